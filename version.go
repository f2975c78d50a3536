// Package varde holds what every part of varde shares: the release identity, so that each measurement,
// finding and report records which build produced it, and the rule for reading user-supplied files
// (regular files only, each kind under a size limit named in the error).
package varde

// Version is the tool version recorded with every audit and measurement. Release builds set it with
// -ldflags "-X github.com/varde/varde.Version=...".
var Version = "0.1.0-dev"
