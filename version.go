// Package varde holds what every part of varde shares: the release identity, so that each measurement,
// finding and report records which build produced it, and the rule for reading user-supplied files
// (regular files only, each kind under a size limit named in the error).
package varde

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Build is what the Go toolchain stamped into this binary: the main module's version and, when built in
// a git checkout, the commit and whether the tree had uncommitted changes.
type Build struct {
	Module   string // main module version, e.g. v0.0.0-20261124101500-493b3d4c1a2f or (devel)
	Revision string // vcs.revision: the full commit hash; empty when not built from a checkout
	Time     string // vcs.time: the commit's time, RFC 3339
	Modified bool   // vcs.modified: the tree had uncommitted changes
}

// ReadBuild reads the build information of the running binary.
func ReadBuild() Build {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Build{Module: "(unknown)"}
	}
	return buildFrom(bi)
}

// linkedRevision and linkedModified are set by `make build` (-ldflags -X) from git, for builds the go
// command does not stamp: it skips VCS stamping in a git worktree, whose .git is a file.
var linkedRevision, linkedModified string

func buildFrom(bi *debug.BuildInfo) Build {
	b := Build{Module: bi.Main.Version, Revision: linkedRevision, Modified: linkedModified == "true"}
	if b.Module == "" {
		b.Module = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the one-line form stored with every audit and printed in reports: the module version, then
// the commit, marked when the tree was modified, so that an auditor can tell two builds apart.
func (b Build) String() string {
	var sb strings.Builder
	sb.WriteString(b.Module)
	if b.Revision != "" {
		sb.WriteString(" commit ")
		sb.WriteString(b.Revision)
		if b.Modified {
			sb.WriteString(" (modified)")
		}
	}
	return sb.String()
}

// Version is the tool version recorded with every audit and measurement: Build.String of this binary.
var Version = ReadBuild().String()

// Fields is the build as a map, as an audit's header records it.
func (b Build) Fields() map[string]string {
	m := map[string]string{"module": b.Module, "revision": b.Revision, "time": b.Time, "go": runtime.Version()}
	if b.Modified {
		m["modified"] = "true"
	}
	return m
}
