package job

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Emulator stands up the lab targets of an audit (Target.LabRTT): each gets an address that answers
// with the configured true round-trip time. It is declared here and filled by the caller (cmd/varde runs
// the latency lab in a process of its own), so that job never touches TUN devices, namespaces or
// GOMAXPROCS.
type Emulator interface {
	Emulate(ctx context.Context, targets []EmulatedTarget) (*Emulation, error)
}

// EmulatedTarget is one lab target to emulate.
type EmulatedTarget struct {
	Name string
	RTT  time.Duration
	Port uint16
}

// Emulation is a running set of emulated targets. Close it.
type Emulation struct {
	// Addrs holds where each target (by name) answers.
	Addrs map[string]netip.AddrPort
	// Method says how the targets are emulated, for the reports' method note.
	Method string
	Close  func() error
}

// ErrEmulatorUnavailable says the emulator cannot run here; Run then measures lab targets over TCP on
// loopback and the reports say so.
var ErrEmulatorUnavailable = errors.New("target emulator unavailable")
