package main

import (
	"context"
	"fmt"
	"github.com/varde/varde"
	"github.com/varde/varde/job"
	"github.com/varde/varde/storage"
	"os"
	"path/filepath"
	"time"

	"github.com/varde/varde/guest"
)

func cmdGuest(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("guest: want a subcommand: collect or check")
	}
	switch args[0] {
	case "collect":
		return cmdGuestCollect(ctx, e, args[1:])
	case "check":
		return cmdGuestCheck(ctx, e, args[1:])
	}
	return usagef("guest: unknown subcommand %q (want collect or check)", args[0])
}

func cmdGuestCollect(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "guest collect")
	out := fs.String("o", "", "snapshot file to write (.tar.gz)")
	root := fs.String("root", "", "collect from this directory instead of the live system")
	interval := fs.Duration("steal-interval", 2*time.Second, "time between the two /proc/stat samples")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("guest collect: -o FILE is required")
	}
	if fs.NArg() > 0 {
		return usagef("guest collect: unexpected arguments %q", fs.Args())
	}
	r := guest.LiveRoot()
	if *root != "" {
		var err error
		if r, err = guest.DirRoot(*root); err != nil {
			return err
		}
	}
	// Write next to the target and rename, so a failed collect never leaves a half snapshot behind.
	if err := varde.CheckOutput(*out); err != nil {
		return fmt.Errorf("guest collect: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".varde-snapshot-*")
	if err != nil {
		return fmt.Errorf("guest collect: %w", err)
	}
	defer os.Remove(tmp.Name())
	m, err := guest.Collect(ctx, r, tmp, guest.Config{StealInterval: *interval, Logger: e.logger})
	if err != nil {
		tmp.Close()
		return fmt.Errorf("guest collect: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("guest collect: %w", err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("guest collect: %w", err)
	}
	fmt.Fprintf(e.stdout, "wrote %s: host %s, %d files, %s\n", *out, m.Host, m.Files, m.Time.Format(time.RFC3339))
	return nil
}

func cmdGuestCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "guest check")
	root := fs.String("root", "", "check a directory laid out like / instead of the live system")
	snap := fs.String("snapshot", "", "check a snapshot written by varde guest collect")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	ioDir := fs.String("io-dir", "/var/tmp", "directory for the direct-I/O test file (live only; removed afterwards)")
	ioMiB := fs.Int64("io-size", 1024, "MiB to write at most in the direct-I/O test")
	noIO := fs.Bool("no-io", false, "skip the direct-I/O measurement")
	interval := fs.Duration("steal-interval", 2*time.Second, "time between the two /proc/stat samples (live)")
	var sf storeFlags
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("guest check: unexpected arguments %q", fs.Args())
	}
	if *root != "" && *snap != "" {
		return usagef("guest check: --root and --snapshot exclude each other")
	}
	r := guest.LiveRoot()
	var err error
	switch {
	case *root != "":
		r, err = guest.DirRoot(*root)
	case *snap != "":
		r, err = guest.OpenSnapshot(ctx, *snap)
	}
	if err != nil {
		return err
	}
	cfg := guest.Config{
		StealInterval: *interval,
		IO:            guest.IOConfig{Dir: *ioDir, Bytes: *ioMiB << 20},
		SkipIO:        *noIO,
		Logger:        e.logger,
	}
	rep, err := guest.Check(ctx, r, cfg)
	if err != nil {
		return fmt.Errorf("guest check: %w", err)
	}
	if *asJSON {
		err = rep.WriteJSON(e.stdout)
	} else {
		err = rep.WriteTable(e.stdout)
	}
	if err != nil || !sf.store {
		return err
	}
	return e.storeEvidence(ctx, sf, "", func(s *storage.Store, id int64) error {
		crs, err := job.CheckRecords(rep)
		if err != nil {
			return err
		}
		return s.AppendCheckResults(ctx, id, crs)
	})
}
