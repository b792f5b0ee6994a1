package openapi

import (
	_ "embed"
	"slices"
)

//go:embed openapi.yaml
var spec []byte

// Spec returns keyline's OpenAPI document, served at GET /openapi.yaml.
// It returns a copy: the embedded bytes back the validator and must not change
// under it, and the copy is negligible next to an HTTP write.
func Spec() []byte {
	return slices.Clone(spec)
}
