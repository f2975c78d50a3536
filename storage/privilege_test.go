package storage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/varde/varde/storage"
)

// The role varde connects as may append evidence but cannot rewrite it: it owns nothing, so it cannot
// alter a table or disable its triggers, and it holds no UPDATE, DELETE or TRUNCATE on evidence.
func TestWriterRoleCannotRewrite(t *testing.T) {
	t.Parallel()
	_, s, urls := newStores(t)
	ctx := context.Background()
	a := newAudit(t, s)
	sampleEvidence(t, s, a.ID)
	conn, err := pgx.Connect(ctx, urls.Writer)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`ALTER TABLE findings DISABLE TRIGGER findings_append_only`,
		`ALTER TABLE findings DISABLE TRIGGER ALL`,
		`ALTER TABLE audits DISABLE TRIGGER audits_guard`,
		`ALTER TABLE findings ADD COLUMN x int`,
		`UPDATE findings SET verdict = 'in_eea'`,
		`UPDATE measurement_samples SET rtt_ns = 1`,
		`UPDATE audits SET organisation = 'x'`,
		`UPDATE vantages SET city = 'Bergen'`,
		`DELETE FROM findings`,
		`DELETE FROM audits`,
		`TRUNCATE findings CASCADE`,
		`TRUNCATE audits CASCADE`,
		`SET session_replication_role = replica`,
		`CREATE TABLE findings2 (x int)`,
		`DROP TRIGGER findings_append_only ON findings`,
		// The evidence log and the chain's entries (issue 11).
		`UPDATE log_leaves SET data = '\x00'`,
		`DELETE FROM log_leaves`,
		`TRUNCATE log_leaves`,
		`ALTER TABLE log_leaves DISABLE TRIGGER ALL`,
		`UPDATE audit_entries SET body = '{}'`,
		`DELETE FROM audit_entries`,
		`UPDATE reports SET sha256 = 'x'`,
		`DELETE FROM reports`,
	} {
		_, err := conn.Exec(ctx, q)
		if err == nil || !(strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), "must be owner")) {
			t.Errorf("as %s: %s: got %v, want permission denied", "varde_writer", q, err)
		}
	}
	// The columns the writer may update on a running audit freeze once it has finished.
	if err := s.FinishAudit(ctx, a.ID, storage.StatusSucceeded, t0); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `UPDATE audits SET chain_head = '\x00', chain_length = chain_length + 1 WHERE id = $1`, a.ID)
	if err == nil || !strings.Contains(err.Error(), "a finished audit is frozen") {
		t.Errorf("bumping a finished audit's head as the writer: %v", err)
	}
}

// Reference data is versioned: a changed vantage is a new row beside the old, an unchanged one is reused.
func TestReferenceDataIsVersioned(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	lat, lon := 59.91, 10.75
	v1, err := s.PutVantage(ctx, storage.Vantage{Name: "oslo-nix-1", City: "Oslo", Latitude: &lat, Longitude: &lon, Network: "NIX"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.PutVantage(ctx, storage.Vantage{Name: "oslo-nix-1", City: "Oslo", Latitude: &lat, Longitude: &lon, Network: "NIX"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != v1.ID {
		t.Errorf("unchanged vantage stored again: %d, then %d", v1.ID, again.ID)
	}
	lat2 := 60.39
	v2, err := s.PutVantage(ctx, storage.Vantage{Name: "oslo-nix-1", City: "Bergen", Latitude: &lat2, Longitude: &lon, Network: "NIX"})
	if err != nil {
		t.Fatal(err)
	}
	if v2.ID == v1.ID {
		t.Fatal("a changed vantage overwrote the old version")
	}
	vs, err := s.Vantages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].ID != v2.ID || vs[0].City != "Bergen" {
		t.Errorf("current vantages: %+v, want only version %d (Bergen)", vs, v2.ID)
	}
	if _, err := s.PutDataStore(ctx, storage.DataStore{Name: "crm", Location: "db.example.no"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutTarget(ctx, storage.Target{Name: "fra", Host: "198.18.0.3"}); err != nil {
		t.Fatal(err)
	}
}
