package storage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/varde/varde/storage"
)

// What an audit claims is in its chain: rewriting the audits row, its header, a step or its finish,
// as a superuser past the triggers, breaks verification and says which.
func TestHeaderStepsAndFinishAreInTheChain(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, sql, want string }{
		{"organisation", `UPDATE audits SET organisation = 'Someone Else AS'`, "audit_entries row 1 (seq 0): stored hash does not match"},
		{"config", `UPDATE audits SET config = '{"b": 2}'`, "the audit's stored config hashes to"},
		{"header vantage", `UPDATE audit_entries SET body = jsonb_set(body, '{vantages,0,latitude}', '48.1') WHERE kind = 'header'`, "audit_entries row 1 (seq 0): stored hash does not match"},
		{"step", `UPDATE audit_steps SET status = 'succeeded'`, "(seq 7, step): says"},
		{"status", `UPDATE audits SET status = 'succeeded'`, "(seq 8, finish): says"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, url := newStore(t)
			ctx := context.Background()
			a := newAudit(t, s)
			sampleEvidence(t, s, a.ID)
			if err := s.RecordStep(ctx, storage.Step{AuditID: a.ID, Step: "probes", Status: "failed", Message: "x", StartedAt: t0, FinishedAt: t0}); err != nil {
				t.Fatal(err)
			}
			if err := s.FinishAudit(ctx, a.ID, storage.StatusPartial, t0); err != nil {
				t.Fatal(err)
			}
			rep, err := s.Verify(ctx, a.ID)
			if err != nil || !rep.OK() || rep.Rows != 9 {
				t.Fatalf("before: %+v %v", rep, err)
			}
			tamper(t, url, c.sql)
			rep, err = s.Verify(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || !strings.Contains(rep.Bad, c.want) {
				t.Errorf("after %s: %q, want %q", c.sql, rep.Bad, c.want)
			}
		})
	}
}
