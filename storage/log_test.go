package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/storage"
)

func leafData(ls []storage.LogLeaf) [][]byte {
	var out [][]byte
	for _, l := range ls {
		out = append(out, l.Data)
	}
	return out
}

// The attacks of issue 11, as the superuser past every trigger, with every hash and head recomputed
// consistently: the chain alone still verifies, the log and its signed checkpoints do not.
func TestLogDetectsRewrites(t *testing.T) {
	t.Parallel()
	s, url := newStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	keyPath, pubPath, err := evidencelog.GenerateKey(dir+"/keys", "varde.test/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evidencelog.LoadSigner(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := evidencelog.LoadVerifier(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for range 2 {
		a := newAudit(t, s)
		sampleEvidence(t, s, a.ID)
		if err := s.FinishAudit(ctx, a.ID, storage.StatusSucceeded, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SealAudit(ctx, a.ID, t0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	rp, err := s.AddReport(ctx, storage.Report{AuditID: ids[1], Kind: "compliance", Path: "r.pdf", SHA256: "aa", SignerFingerprint: "bb", CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LogReport(ctx, rp, t0); err != nil {
		t.Fatal(err)
	}
	publish := func() evidencelog.Checkpoint {
		t.Helper()
		ls, err := s.LogLeaves(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tree, err := evidencelog.Build(leafData(ls))
		if err != nil {
			t.Fatal(err)
		}
		cp, err := evidencelog.Sign(tree, tree.Size(), signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := evidencelog.Open(cp.Signed, verifier); err != nil {
			t.Fatal(err)
		}
		return cp
	}
	handedOut := publish() // an auditor keeps this one
	check := func(auditID int64, cps ...evidencelog.Checkpoint) error {
		ls, err := s.LogLeaves(ctx)
		if err != nil {
			return err
		}
		tree, err := evidencelog.Build(leafData(ls))
		if err != nil {
			return err
		}
		for _, cp := range cps {
			if err := tree.CheckAgainst(cp); err != nil {
				return err
			}
		}
		idx, err := s.CheckSealed(ctx, auditID, ls)
		if err != nil {
			return err
		}
		return tree.CheckInclusion(cps[len(cps)-1], idx, ls[idx].Data)
	}
	for _, id := range ids {
		if err := check(id, handedOut); err != nil {
			t.Fatalf("audit %d before any attack: %v", id, err)
		}
	}

	// A report row rewritten.
	tamper(t, url, `UPDATE reports SET sha256 = 'cc' WHERE id = `+itoa(rp.ID))
	if err := check(ids[1], handedOut); err == nil || !strings.Contains(err.Error(), "the report row was rewritten") {
		t.Errorf("rewritten report row: %v", err)
	}
	tamper(t, url, `UPDATE reports SET sha256 = 'aa' WHERE id = `+itoa(rp.ID))

	// A row appended to a finished audit: reopened, appended through varde's own code (so every hash
	// and the head are consistent), closed again. The chain verifies; the seal does not.
	tamper(t, url, `UPDATE audits SET status = 'running' WHERE id = `+itoa(ids[0]))
	if err := s.AppendFindings(ctx, ids[0], []storage.Finding{{Subject: "crm-db", RuleID: "residency.store", Severity: "info", Verdict: "in_eea", CreatedAt: t0}}); err != nil {
		t.Fatal(err)
	}
	tamper(t, url, `UPDATE audits SET status = 'succeeded' WHERE id = `+itoa(ids[0]))
	if rep, err := s.Verify(ctx, ids[0]); err != nil || !rep.OK() {
		t.Fatalf("the forged chain should hold on its own: %+v %v", rep, err)
	}
	err = check(ids[0], handedOut)
	if err == nil || !strings.Contains(err.Error(), "evidence changed after the seal") {
		t.Errorf("appended row: %v", err)
	}

	// The log forked: the attacker rewrites the seal to the forged head and, holding the log key,
	// signs a new checkpoint. Against that alone everything agrees; the checkpoint handed out before
	// does not.
	forged, err := s.Verify(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	a0, err := s.GetAudit(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	data, err := storage.SealLeafData(a0, forged)
	if err != nil {
		t.Fatal(err)
	}
	tamper(t, url, `UPDATE log_leaves SET data = '\x`+hexString(data)+`' WHERE kind = 'audit' AND audit_id = `+itoa(ids[0]))
	forkCP := publish()
	if err := check(ids[0], forkCP); err != nil {
		t.Fatalf("the fork against its own checkpoint: %v", err)
	}
	err = check(ids[0], handedOut, forkCP)
	if !errors.Is(err, evidencelog.ErrMismatch) || !strings.Contains(err.Error(), "rewritten or forked") {
		t.Errorf("fork after a checkpoint was handed out: %v", err)
	}

	// An audit silently removed from the log: its leaf deleted and the rest renumbered.
	tamper(t, url, `DELETE FROM log_leaves WHERE idx = 0`)
	tamper(t, url, `UPDATE log_leaves SET idx = idx - 1`)
	err = check(ids[1], handedOut)
	if !errors.Is(err, evidencelog.ErrMismatch) {
		t.Errorf("audit removed from the log: %v", err)
	}
	if err := check(ids[0], handedOut); !errors.Is(err, evidencelog.ErrMismatch) || !strings.Contains(err.Error(), "leaves were removed") {
		t.Errorf("the removed audit: %v", err)
	}
	if _, err := s.CheckSealed(ctx, ids[0], mustLeaves(t, s)); err == nil || !strings.Contains(err.Error(), "not sealed") {
		t.Errorf("the removed audit's seal: %v", err)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func mustLeaves(t *testing.T, s *storage.Store) []storage.LogLeaf {
	t.Helper()
	ls, err := s.LogLeaves(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// An audit stored before the log (canonical form 1) is sealed like any other and checks out.
func TestLegacyAuditCanBeSealed(t *testing.T) {
	t.Parallel()
	s, _ := legacyStore(t)
	ctx := context.Background()
	l, err := s.SealAudit(ctx, 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(l.Data), `"canonical_form":1`) || !strings.Contains(string(l.Data), "6afffc2d524f770adf9a7909dbdf12ee13cbfcc3c7de7deeb23921928bcc95bc") {
		t.Errorf("legacy seal: %s", l.Data)
	}
	if idx, err := s.CheckSealed(ctx, 1, mustLeaves(t, s)); err != nil || idx != 0 {
		t.Errorf("legacy audit in the log: %d %v", idx, err)
	}
	if _, err := s.SealAudit(ctx, 1, t0); err == nil {
		t.Error("an audit was sealed twice")
	}
}
