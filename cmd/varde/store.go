package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/varde/varde"
	"github.com/varde/varde/storage"
)

// storeFlags are the flags of every command that can keep its results as evidence.
type storeFlags struct {
	store   bool
	auditID int64
}

func (sf *storeFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&sf.store, "store", false, "store the results as evidence in Postgres (a new ad hoc audit unless --audit is given)")
	fs.Int64Var(&sf.auditID, "audit", 0, "with --store: append to this running audit instead of starting one")
}

// storeEvidence runs put inside an audit: the given running one, or a new ad hoc audit that is finished
// afterwards (failed if put failed, keeping whatever was stored before the failure).
func (e *env) storeEvidence(ctx context.Context, sf storeFlags, rulesVersion string, put func(s *storage.Store, auditID int64) error) error {
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if sf.auditID > 0 {
		if _, err := s.GetAudit(ctx, sf.auditID); err != nil {
			return err
		}
		if err := put(s, sf.auditID); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "stored in audit %d\n", sf.auditID)
		return nil
	}
	a, err := s.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindAdHoc, ToolVersion: varde.Version,
		RulesVersion: rulesVersion, StartedAt: time.Now(), Header: &storage.Header{Build: varde.ReadBuild().Fields()}})
	if err != nil {
		return err
	}
	hold, err := s.HoldAudit(ctx, a.ID)
	if err != nil {
		return errors.Join(err, s.FinishAudit(ctx, a.ID, storage.StatusFailed, time.Now()))
	}
	defer hold.Release()
	perr := put(s, a.ID)
	status := storage.StatusSucceeded
	switch {
	case ctx.Err() != nil:
		status = storage.StatusInterrupted
	case perr != nil:
		status = storage.StatusFailed
	}
	// FinishAudit writes the final status even when the command was interrupted: no audit is left running.
	if err := s.FinishAudit(ctx, a.ID, status, time.Now()); err != nil && perr == nil {
		perr = err
	}
	if perr != nil {
		return fmt.Errorf("audit %d: %w", a.ID, perr)
	}
	fmt.Fprintf(e.stderr, "stored as audit %d (verify with: varde verify --audit %d)\n", a.ID, a.ID)
	return nil
}
