package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/varde/varde/job"
	"github.com/varde/varde/probes/lab/labexec"
)

// labProgram is the latency lab's own executable (demo/varde-lab): $VARDE_LAB, or varde-lab beside this
// executable. The lab runs in that process, never in varde's (see probes/lab/labexec).
func (e *env) labProgram() string {
	if p := e.getenv("VARDE_LAB"); p != "" {
		return p
	}
	exe, err := os.Executable()
	if err != nil {
		return "varde-lab"
	}
	return filepath.Join(filepath.Dir(exe), "varde-lab")
}

func (e *env) labEmulator() job.Emulator { return labEmulator{program: e.labProgram()} }

// labEmulator is job's Emulator backed by the latency lab in a child process.
type labEmulator struct{ program string }

func (l labEmulator) Emulate(ctx context.Context, targets []job.EmulatedTarget) (*job.Emulation, error) {
	ts := make([]labexec.Target, len(targets))
	for i, t := range targets {
		ts[i] = labexec.Target{Name: t.Name, RTT: t.RTT, Ports: []uint16{t.Port}}
	}
	p, err := labexec.Start(ctx, l.program, ts)
	if errors.Is(err, labexec.ErrUnavailable) {
		return nil, fmt.Errorf("%w: %w", job.ErrEmulatorUnavailable, err)
	}
	if err != nil {
		return nil, err
	}
	em := &job.Emulation{Addrs: map[string]netip.AddrPort{}, Close: p.Close,
		Method: "Lab targets are emulated by varde's latency lab: packets cross two TUN devices in user space with the configured true RTT added (RTT/2 each way), so their figures show the method's accuracy, not the Internet's."}
	for _, ep := range p.Endpoints {
		if len(ep.Ports) == 0 {
			p.Close()
			return nil, fmt.Errorf("latency lab: target %s has no port", ep.Name)
		}
		em.Addrs[ep.Name] = netip.AddrPortFrom(ep.Addr, ep.Ports[0])
	}
	return em, nil
}
