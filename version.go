// Package varde holds the release identity shared by every part of varde, so that each measurement,
// finding and report records which build produced it.
package varde

// Version is the tool version recorded with every audit and measurement. Release builds set it with
// -ldflags "-X github.com/varde/varde.Version=...".
var Version = "0.1.0-dev"
