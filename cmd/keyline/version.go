package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// Set at link time by the Makefile (-ldflags -X main.version=...), because
// the Go toolchain here builds with -buildvcs=false by default and so leaves
// no revision in the build info. When they are empty, whatever the build
// info does carry (go install's module version, vcs.* settings) fills in.
var (
	version   string
	revision  string
	buildTime string
)

// buildDescription is what `keyline version` prints about this binary.
type buildDescription struct {
	Version, Revision, Built, Go string
	Modified                     bool
}

// describeBuild merges the link-time values with the build info; info may
// be nil (a binary built without module support).
func describeBuild(info *debug.BuildInfo) buildDescription {
	d := buildDescription{Version: version, Revision: revision, Built: buildTime}
	if info != nil {
		d.Go = info.GoVersion
		if d.Version == "" && info.Main.Version != "" {
			d.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if d.Revision == "" {
					d.Revision = s.Value
				}
			case "vcs.time":
				if d.Built == "" {
					d.Built = s.Value
				}
			case "vcs.modified":
				d.Modified = d.Modified || s.Value == "true"
			}
		}
	}
	for _, f := range []*string{&d.Version, &d.Revision, &d.Built, &d.Go} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return d
}

// printVersion prints the version, the VCS revision and the build time, one
// "name: value" line each, so that scripts can grep a single field.
func printVersion(stdout io.Writer) error {
	info, _ := debug.ReadBuildInfo()
	d := describeBuild(info)
	rev := d.Revision
	if d.Modified {
		rev += " (modified)"
	}
	_, err := fmt.Fprintf(stdout, "keyline %s\nrevision: %s\nbuilt: %s\ngo: %s\n", d.Version, rev, d.Built, d.Go)
	return err
}
