package main

import (
	"context"
	"fmt"
)

func cmdVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "verify")
	auditID := fs.Int64("audit", 0, "audit ID (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *auditID <= 0 {
		return usagef("verify: --audit ID is required (a positive number)")
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := s.Verify(ctx, *auditID)
	if err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "audit %d: evidence chain of %d rows holds; head %x\n", rep.AuditID, rep.Rows, rep.Head)
	return nil
}
