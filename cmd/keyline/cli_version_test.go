package main

import (
	"runtime/debug"
	"testing"
)

// Without link-time values the build info fills in, and what neither knows
// reads "unknown" rather than an empty field.
func TestDescribeBuildFallsBackToBuildInfo(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}}
	d := describeBuild(info)
	if d.Version != "v1.2.3" || d.Revision != "abc" || !d.Modified || d.Built != "unknown" || d.Go != "go1.26.8" {
		t.Fatalf("from build info: %+v", d)
	}
	if d := describeBuild(nil); d.Version != "unknown" || d.Revision != "unknown" || d.Go != "unknown" {
		t.Fatalf("from nothing: %+v", d)
	}
}
