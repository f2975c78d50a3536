package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/varde/varde"
	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/job"
	"github.com/varde/varde/storage"
)

// logFlags say where the evidence log's public key and checkpoints are.
type logFlags struct {
	keysDir, pub, checkpoints string
	extra, tsaCAs             pathList
}

func (lf *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&lf.keysDir, "keys-dir", "", "directory holding log.pub and checkpoints/ (as made by varde keys init or signing.keys_dir)")
	fs.StringVar(&lf.pub, "log-pub", "", "the evidence log's public key file (default: KEYS-DIR/log.pub)")
	fs.StringVar(&lf.checkpoints, "checkpoints", "", "directory of signed checkpoints (default: KEYS-DIR/checkpoints)")
	fs.Var(&lf.extra, "checkpoint", "a checkpoint handed out earlier, to check the log only grew from it (repeatable)")
	fs.Var(&lf.tsaCAs, "tsa-ca", "PEM trust anchor for the checkpoints' RFC 3161 time-stamps (repeatable)")
}

func (lf *logFlags) given() bool { return lf.keysDir != "" || lf.pub != "" }

// open opens the log for verification and reads the extra checkpoints against its key.
func (lf *logFlags) open(s *storage.Store) (*job.EvidenceLog, []job.NamedCheckpoint, error) {
	pub, dir := lf.pub, lf.checkpoints
	if pub == "" && lf.keysDir != "" {
		pub = filepath.Join(lf.keysDir, evidencelog.PubKeyFile)
	}
	if dir == "" && lf.keysDir != "" {
		dir = filepath.Join(lf.keysDir, "checkpoints")
	}
	if pub == "" {
		return nil, nil, usagef("give --keys-dir DIR or --log-pub FILE: the log's public key")
	}
	if dir == "" && len(lf.extra) == 0 {
		return nil, nil, usagef("give --checkpoints DIR or --checkpoint FILE: a signed checkpoint to check against")
	}
	lg, err := job.OpenLogVerifier(s, pub, dir)
	if err != nil {
		return nil, nil, err
	}
	if lg.TSARoots, _, err = loadPool(lf.tsaCAs, ""); err != nil {
		return nil, nil, err
	}
	var extra []job.NamedCheckpoint
	for _, p := range lf.extra {
		c, err := lg.ReadCheckpoint(p)
		if err != nil {
			return nil, nil, err
		}
		extra = append(extra, c)
	}
	return lg, extra, nil
}

func cmdVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "verify")
	auditID := fs.Int64("audit", 0, "audit ID")
	pdf := fs.String("pdf", "", "a signed report: check that its embedded head, proof and checkpoint agree with the database")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *auditID <= 0 && *pdf == "" {
		return usagef("verify: --audit ID is required (a positive number), or --pdf REPORT.pdf")
	}
	if *pdf != "" && !lf.given() {
		return usagef("verify --pdf: give --keys-dir DIR or --log-pub FILE: the log's public key")
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if !lf.given() {
		// The chain alone: a database administrator can recompute it; say what was left out.
		rep, err := s.Verify(ctx, *auditID)
		if err != nil {
			return err
		}
		if err := rep.Err(); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "audit %d: evidence chain of %d rows holds; head %x\n", rep.AuditID, rep.Rows, rep.Head)
		fmt.Fprintf(e.stdout, "log: not checked; give --keys-dir DIR (or --log-pub FILE --checkpoints DIR) to check the audit against signed checkpoints\n")
		return nil
	}
	lg, extra, err := lf.open(s)
	if err != nil {
		return err
	}
	var v *job.Verification
	what := fmt.Sprintf("audit %d", *auditID)
	if *pdf != "" {
		b, rerr := varde.ReadFile(*pdf, varde.Limit{What: "a report PDF", Bytes: 256 << 20})
		if rerr != nil {
			return fmt.Errorf("verify: %w", rerr)
		}
		what = *pdf
		v, err = lg.VerifyReport(ctx, b, extra...)
		if v != nil && *auditID > 0 && v.AuditID != *auditID {
			return fmt.Errorf("verify: %s is a report of audit %d, not %d", *pdf, v.AuditID, *auditID)
		}
	} else {
		v, err = lg.VerifyAudit(ctx, *auditID, extra...)
	}
	if v != nil {
		for _, c := range v.Checked {
			fmt.Fprintln(e.stdout, c)
		}
	}
	if err != nil {
		if errors.Is(err, job.ErrEvidence) || errors.Is(err, evidencelog.ErrMismatch) {
			return fmt.Errorf("verify %s: FAILED: %w", what, err)
		}
		return fmt.Errorf("verify %s: %w", what, err)
	}
	fmt.Fprintf(e.stdout, "%s: verified against the signed log\n", what)
	return nil
}
