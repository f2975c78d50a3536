package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/varde/varde"
	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/job"
)

// cmdEvidence hands evidence to third parties.
func cmdEvidence(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "publish" {
		return cmdEvidencePublish(ctx, e, args[1:])
	}
	if len(args) == 0 || args[0] != "export" {
		return usagef("evidence: want a subcommand: export or publish")
	}
	fs := newFlagSet(e, "evidence export")
	auditID := fs.Int64("audit", 0, "audit ID (required)")
	out := fs.String("o", "", "bundle file to write (required); docs/evidence-format.md specifies it")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *auditID <= 0 {
		return usagef("evidence export: --audit ID is required (a positive number)")
	}
	if *out == "" {
		return usagef("evidence export: -o FILE is required")
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	lg, _, err := lf.open(s)
	if err != nil {
		return err
	}
	b, err := lg.ExportBundle(ctx, *auditID)
	if err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	// Written whole, then renamed: a half-written bundle never sits at the path.
	if err := varde.WriteFileAtomic(*out, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	for _, p := range b.Problems {
		fmt.Fprintf(e.stderr, "varde: evidence export: warning: %s\n", p)
	}
	fmt.Fprintf(e.stdout, "wrote %s: audit %d, %d chain rows, %d reports, %d log leaves, %d checkpoints\n",
		*out, *auditID, len(b.Chain), len(b.Reports), len(b.Log.Leaves), len(b.Log.Checkpoints))
	fmt.Fprintf(e.stdout, "check it without varde: python3 docs/verify-bundle.py %s\n", *out)
	return nil
}

// cmdEvidencePublish signs a checkpoint over the log as the database holds it, for leaves a process
// appended but did not live to publish. It refuses when the log does not extend the checkpoints there.
func cmdEvidencePublish(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "evidence publish")
	keysDir := fs.String("keys-dir", "", "directory holding log.key and checkpoints/")
	logKey := fs.String("log-key", "", "evidence log key (default: KEYS-DIR/log.key)")
	checkpoints := fs.String("checkpoints", "", "checkpoint directory (default: KEYS-DIR/checkpoints)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := logKeyPaths(*keysDir, logKey, checkpoints); err != nil {
		return usagef("evidence publish: %v", err)
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	lg, err := job.OpenLog(s, *logKey, *checkpoints)
	if err != nil {
		return fmt.Errorf("evidence publish: %w", err)
	}
	pub, err := lg.Publish(ctx)
	if err != nil {
		return fmt.Errorf("evidence publish: %w", err)
	}
	fmt.Fprintf(e.stdout, "checkpoint %s: %d leaves, root %s\n", pub.Path, pub.Checkpoint.Size, pub.Checkpoint.Root)
	return nil
}

// logKeyPaths fills the log key and checkpoint directory from a key directory where they were not given.
func logKeyPaths(keysDir string, logKey, checkpoints *string) error {
	if keysDir != "" && *logKey == "" {
		*logKey = filepath.Join(keysDir, evidencelog.KeyFile)
	}
	if keysDir != "" && *checkpoints == "" {
		*checkpoints = filepath.Join(keysDir, "checkpoints")
	}
	if *logKey == "" || *checkpoints == "" {
		return errors.New("give --keys-dir, or --log-key and --checkpoints: the evidence log's key and checkpoints")
	}
	return nil
}
