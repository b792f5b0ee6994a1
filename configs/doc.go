// Package configs loads and validates the keyline server configuration.
//
// There is one typed Config, and schema.json mirrors it field for field.
// The schema lets editors and CI check config files without running the
// server, and lets the server reject a bad file with precise, path-prefixed
// messages; the Go struct is what the rest of the code consumes. A test
// walks both and fails if a field exists on only one side, so they cannot
// drift apart.
//
// ${NAME} placeholders are replaced by environment variables before the
// text is parsed as JSON. This keeps secrets (database passwords, the root
// key) out of files that are committed, while the file still shows the full
// shape of the deployment. Values are JSON-escaped on insertion, so a
// password containing quotes or backslashes cannot corrupt the document. A
// literal "${" can be written as "\u0024{" inside a JSON string.
//
// Every problem is reported at once: all undefined variables in one
// *UndefinedEnvError, all schema and semantic violations in one
// *ValidationError, each line prefixed with the JSON pointer of the
// offending value. Fixing a config should take one edit, not one restart
// per mistake.
package configs
