package varde

import (
	"runtime/debug"
	"testing"
)

func TestBuildString(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261124101500-493b3d4c1a2f+dirty"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "493b3d4c1a2f0000000000000000000000000000"},
		{Key: "vcs.time", Value: "2026-11-24T10:15:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	got := buildFrom(bi).String()
	want := "v0.0.0-20261124101500-493b3d4c1a2f+dirty commit 493b3d4c1a2f0000000000000000000000000000 (modified)"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := buildFrom(&debug.BuildInfo{}).String(); got != "(devel)" {
		t.Errorf("no build info: %q", got)
	}
}
