//go:build linux

// Command varde-lab runs the latency lab for `varde audit run` in a process of its own (see
// probes/lab/labexec), so that the varde binary never links the lab. varde starts it from beside its own
// executable or from $VARDE_LAB; the lab lives until varde closes its stdin.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/varde/varde/probes/lab"
	"github.com/varde/varde/probes/lab/labexec"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := labexec.Serve(ctx, os.Stdin, os.Stdout, lab.Available, func(ctx context.Context, ts []labexec.Target) ([]labexec.Endpoint, func() error, error) {
		cfg := lab.Config{Logger: logger}
		for _, t := range ts {
			cfg.Targets = append(cfg.Targets, lab.Target{Name: t.Name, RTT: t.RTT, Ports: t.Ports})
		}
		l, err := lab.Start(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		var eps []labexec.Endpoint
		for _, ep := range l.Endpoints() {
			eps = append(eps, labexec.Endpoint{Name: ep.Name, Addr: ep.Addr, Ports: ep.Ports})
		}
		return eps, l.Close, nil
	}); err != nil {
		fmt.Fprintln(os.Stderr, "varde-lab:", err)
		os.Exit(1)
	}
}
