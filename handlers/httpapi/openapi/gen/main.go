// Command gen writes keyline's openapi.yaml: Unkey's OpenAPI document cut down
// to the operations keyline serves. Run it through the Makefile (see
// `make openapi`), which reads the list of operations from the current file.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyline/keyline/handlers/httpapi/openapi/internal/specgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "openapi gen:", err)
		os.Exit(1)
	}
}

func run() error {
	src := flag.String("src", "", "Unkey's bundled OpenAPI document (path relative to the module root)")
	out := flag.String("out", "", "file to write (path relative to the module root)")
	opsFlag := flag.String("ops", "", "comma-separated operationIds to keep")
	flag.Parse()
	if *src == "" || *out == "" || *opsFlag == "" || flag.NArg() > 0 {
		flag.Usage()
		return fmt.Errorf("-src, -out and -ops are required")
	}

	var ops []string
	for _, op := range strings.Split(*opsFlag, ",") {
		if op = strings.TrimSpace(op); op != "" {
			ops = append(ops, op)
		}
	}

	in, err := os.ReadFile(*src)
	if err != nil {
		return err
	}
	// Only the file name of the source is recorded: where a maintainer keeps
	// Unkey's document is outside the repository and means nothing to a clone.
	generated, err := specgen.Generate(in, filepath.Base(*src), *out, ops)
	if err != nil {
		return err
	}
	// Leave the file (and its mtime) alone when nothing changed, so that
	// go generate does not invalidate build caches for no reason.
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, generated) {
		return nil
	}
	return os.WriteFile(*out, generated, 0o644)
}
