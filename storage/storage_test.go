package storage_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newStore gives each test a fresh database, migrated by its owner, and a Store connected as the writer
// role varde runs as. The URL returned is the superuser's, for tampering.
func newStore(t *testing.T) (*storage.Store, string) {
	t.Helper()
	_, s, urls := newStores(t)
	return s, urls.Super
}

// newStores is newStore with the owner's Store too.
func newStores(t *testing.T) (owner, writer *storage.Store, urls pgtest.URLs) {
	t.Helper()
	urls = pgtest.DatabaseRoles(t)
	ctx := context.Background()
	owner, err := storage.Open(ctx, storage.Config{DatabaseURL: urls.Owner, SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owner.Close)
	if _, err := owner.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	writer, err = storage.Open(ctx, storage.Config{DatabaseURL: urls.Writer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(writer.Close)
	return owner, writer, urls
}

func newAudit(t *testing.T, s *storage.Store) storage.Audit {
	t.Helper()
	a, err := s.CreateAudit(context.Background(), storage.NewAudit{
		Kind: storage.KindQuarterly, Organisation: "Fjordnett AS", ToolVersion: "test", RulesVersion: "r1",
		StartedAt: time.Date(2026, 10, 1, 8, 0, 0, 123456789, time.UTC),
		Config:    json.RawMessage(`{"b": 1, "a": [1.50, "x"]}`),
		Header: &storage.Header{Vantages: []storage.HeaderVantage{{Name: "oslo-nix-1", City: "Oslo", Latitude: 59.91, Longitude: 10.75, Network: "NIX"}},
			Build: map[string]string{"module": "test"}, RulesSHA256: "00"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var t0 = time.Date(2026, 10, 1, 8, 0, 1, 987654321, time.UTC)

func sampleEvidence(t *testing.T, s *storage.Store, auditID int64) {
	t.Helper()
	ctx := context.Background()
	ms := []storage.Measurement{{
		Vantage: "oslo-nix-1", Target: "frankfurt", Address: "198.18.0.3", ProbeKind: "icmp",
		Sent: 3, Received: 2, StartedAt: t0, FinishedAt: t0.Add(time.Second), Tool: "varde", ToolVersion: "test",
		Stats: json.RawMessage(`{"median_ms": 25.01, "loss_pct": 33.333333333333336}`),
		Samples: []storage.Sample{
			{Idx: 0, SentAt: t0, Received: true, RTT: 25010 * time.Microsecond},
			{Idx: 1, SentAt: t0.Add(10 * time.Millisecond)},
			{Idx: 2, SentAt: t0.Add(20 * time.Millisecond), Received: true, RTT: 25020 * time.Microsecond, Duplicate: true},
		},
	}, {
		Vantage: "oslo-nix-1", Target: "frankfurt", Address: "198.18.0.3", Port: 443, ProbeKind: "tcp",
		Sent: 1, Received: 1, StartedAt: t0, FinishedAt: t0, Tool: "varde", ToolVersion: "test",
		Samples: []storage.Sample{{Idx: 0, SentAt: t0, Received: true, RTT: 25 * time.Millisecond, KernelRTT: 24900 * time.Microsecond, Retransmits: 1}},
	}}
	if err := s.AppendMeasurements(ctx, auditID, ms); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendObservations(ctx, auditID, []storage.Observation{{
		Subject: "crm-db", Host: "db.example.no", Address: "2001:db8::1", Source: "geoip", DatabaseType: "GeoIP2-City",
		BuildEpoch: time.Unix(1700000000, 0), FileSHA256: "ab", LocatedCountry: "NO", ObservedAt: t0,
		Details: json.RawMessage(`{"z":1,"a":{"y":true,"b":null}}`),
	}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendCheckResults(ctx, auditID, []storage.CheckResult{{
		Host: "vm1", CheckID: "io-scheduler", Result: "warn", Observed: "cfq", Expected: "none", CheckedAt: t0,
	}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendFindings(ctx, auditID, []storage.Finding{{
		Subject: "crm-db", RuleID: "residency.eea", LegalReference: "GDPR Art. 44; Personopplysningsloven § 1",
		Severity: "info", Verdict: "in_eea", Summary: "æøå in Norway", CreatedAt: t0,
		Evidence: json.RawMessage(`{"country": "NO", "rtt_ms": 2.5e0}`),
	}, {
		Subject: "analytics", RuleID: "residency.transfer", Severity: "high", Verdict: "transfer_mechanism_required", CreatedAt: t0,
		Compliant: new(false),
	}}); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	s, _, _ := newStores(t)
	ctx := context.Background()
	res, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 || res.From != res.To || res.To != storage.LatestVersion() {
		t.Fatalf("second migrate: %+v, want nothing applied at version %d", res, storage.LatestVersion())
	}
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestChainVerifies(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	a := newAudit(t, s)
	sampleEvidence(t, s, a.ID)
	rep, err := s.Verify(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Rows != 7 { // the header and six evidence rows
		t.Fatalf("verify: %+v", rep)
	}
	ms, err := s.Measurements(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || len(ms[0].Samples) != 3 || ms[0].Samples[1].Received || !ms[0].Samples[2].Duplicate ||
		ms[1].Samples[0].KernelRTT != 24900*time.Microsecond {
		t.Fatalf("measurements read back wrong: %+v", ms)
	}
	// A second audit starts its own chain.
	b := newAudit(t, s)
	sampleEvidence(t, s, b.ID)
	if rep, err := s.Verify(ctx, b.ID); err != nil || !rep.OK() {
		t.Fatalf("second audit: %+v %v", rep, err)
	}
}

func TestEvidenceIsAppendOnly(t *testing.T) {
	t.Parallel()
	s, url := newStore(t)
	ctx := context.Background()
	a := newAudit(t, s)
	sampleEvidence(t, s, a.ID)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`UPDATE findings SET verdict = 'in_eea'`,
		`DELETE FROM findings`,
		`UPDATE measurements SET received = 3`,
		`DELETE FROM measurements`,
		`UPDATE measurement_samples SET rtt_ns = 1`,
		`DELETE FROM measurement_samples`,
		`TRUNCATE findings CASCADE`,
		`UPDATE geo_observations SET located_country = 'US'`,
		`DELETE FROM check_results`,
	} {
		_, err := conn.Exec(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "evidence is append-only") {
			t.Errorf("%s: got %v, want refusal", q, err)
		}
	}
}

// tamper changes evidence behind the triggers' back, as a superuser could.
func tamper(t *testing.T, url, q string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	tag, err := conn.Exec(ctx, q)
	if err != nil || tag.RowsAffected() == 0 {
		t.Fatalf("tamper %s: %v (%d rows)", q, err, tag.RowsAffected())
	}
}

func TestVerifyNamesTamperedRow(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, sql, want string
	}{
		{"finding verdict", `UPDATE findings SET verdict = 'in_eea' WHERE rule_id = 'residency.transfer'`, "findings row %d (seq 6): stored hash does not match"},
		{"finding compliant flipped", `UPDATE findings SET compliant = true WHERE rule_id = 'residency.transfer'`, "findings row %d (seq 6): stored hash does not match"},
		{"finding compliant cleared", `UPDATE findings SET compliant = NULL WHERE rule_id = 'residency.transfer'`, "findings row %d (seq 6): stored hash does not match"},
		{"measurement count", `UPDATE measurements SET received = 3 WHERE probe_kind = 'icmp'`, "measurements row %d (seq 1): stored hash does not match"},
		{"sample rtt", `UPDATE measurement_samples SET rtt_ns = 2000000 WHERE idx = 0 AND kernel_rtt_ns IS NULL`, "measurements row %d (seq 1): its samples do not match"},
		{"evidence json", `UPDATE geo_observations SET details = '{"z":2}'`, "geo_observations row %d (seq 3)"},
		{"deleted middle", `DELETE FROM check_results`, "seq 4 is missing"},
		{"deleted end", `DELETE FROM findings WHERE seq = 6`, "rows were removed from the end"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, url := newStore(t)
			ctx := context.Background()
			a := newAudit(t, s)
			sampleEvidence(t, s, a.ID)
			var id int64
			table := strings.Fields(tc.want)[0]
			if strings.Contains(tc.want, "%d") {
				fs, _ := s.Findings(ctx, a.ID)
				ms, _ := s.Measurements(ctx, a.ID)
				obs, _ := s.Observations(ctx, a.ID)
				switch table {
				case "findings":
					id = fs[1].ID
				case "measurements":
					id = ms[0].ID
				case "geo_observations":
					id = obs[0].ID
				}
			}
			tamper(t, url, tc.sql)
			rep, err := s.Verify(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if strings.Contains(want, "%d") {
				want = strings.Replace(want, "%d", itoa(id), 1)
			}
			if rep.OK() || !strings.Contains(rep.Bad, want) {
				t.Fatalf("verify after tamper: %q, want it to contain %q", rep.Bad, want)
			}
			if rep.Err() == nil {
				t.Fatal("Err() is nil for a broken chain")
			}
		})
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := storage.Open(ctx, storage.Config{DatabaseURL: "postgres://%zz"}); err == nil || !strings.Contains(err.Error(), "database URL") {
		t.Errorf("bad URL: %v", err)
	}
	_, err := storage.Open(ctx, storage.Config{DatabaseURL: "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", ConnectTimeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "cannot connect") || strings.Contains(err.Error(), "\n") {
		t.Errorf("refused connection: %v", err)
	}
	s, url := newStore(t)
	if _, err := s.GetAudit(ctx, 4242); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("missing audit: %v", err)
	}
	if _, err := s.Verify(ctx, 4242); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("verify missing audit: %v", err)
	}
	if err := s.AppendFindings(ctx, 4242, []storage.Finding{{Subject: "x", RuleID: "r", Severity: "info", Verdict: "v", CreatedAt: t0}}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("append to missing audit: %v", err)
	}
	a := newAudit(t, s)
	if err := s.AppendFindings(ctx, a.ID, []storage.Finding{{Subject: "x", RuleID: "r", Severity: "bogus", Verdict: "v", CreatedAt: t0}}); err == nil {
		t.Error("a bad severity was stored")
	}
	// A failed append leaves the chain as it was.
	if rep, err := s.Verify(ctx, a.ID); err != nil || !rep.OK() || rep.Rows != 1 { // the header only
		t.Errorf("after failed append: %+v %v", rep, err)
	}
	if err := s.FinishAudit(ctx, a.ID, storage.StatusSucceeded, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendFindings(ctx, a.ID, []storage.Finding{{Subject: "x", RuleID: "r", Severity: "info", Verdict: "v", CreatedAt: t0}}); !errors.Is(err, storage.ErrAuditFinished) {
		t.Errorf("append to finished audit: %v", err)
	}
	// A schema newer than the binary is refused.
	tamper(t, url, `UPDATE schema_version SET version = 99`)
	_, err = storage.Open(ctx, storage.Config{DatabaseURL: url})
	if !errors.Is(err, storage.ErrSchemaTooNew) || !strings.Contains(err.Error(), "upgrade varde") {
		t.Errorf("newer schema: %v", err)
	}
}

// legacyStore is a database left by varde 493b3d4 at schema version 1 (before findings.compliant), holding
// one finished audit (testdata/audit-schema1.sql, a pg_dump of it), then migrated to this binary's schema.
func legacyStore(t *testing.T) (*storage.Store, string) {
	t.Helper()
	url := pgtest.Database(t)
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: url, SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.MigrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	pgtest.LoadSQL(t, url, "testdata/audit-schema1.sql")
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s, url
}

// An audit stored before migration 2 still verifies after it, with the head it had: its findings have no
// compliant, and their hashes were computed without it. Setting compliant on one of them breaks the chain.
func TestAuditStoredBeforeMigration2StillVerifies(t *testing.T) {
	t.Parallel()
	s, url := legacyStore(t)
	ctx := context.Background()
	rep, err := s.Verify(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	const head = "6afffc2d524f770adf9a7909dbdf12ee13cbfcc3c7de7deeb23921928bcc95bc" // as varde 493b3d4 printed it
	if !rep.OK() || rep.Rows != 56 || hex.EncodeToString(rep.Head) != head {
		t.Fatalf("legacy chain: %+v", rep)
	}
	fs, err := s.Findings(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Compliant != nil {
			t.Fatalf("finding %d of the legacy audit has compliant %v; it was stored without", f.ID, *f.Compliant)
		}
	}
	tamper(t, url, `UPDATE findings SET compliant = true WHERE id = 1`)
	rep, err = s.Verify(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(rep.Bad, "findings row 1 (seq 17): stored hash does not match") {
		t.Fatalf("compliant set on a legacy row: %q", rep.Bad)
	}
}

func TestMigrateToRefusesGoingBack(t *testing.T) {
	t.Parallel()
	s, _, _ := newStores(t)
	if _, err := s.MigrateTo(context.Background(), 1); err == nil || !strings.Contains(err.Error(), "migrate to schema version 1") {
		t.Fatalf("migrating back: %v", err)
	}
}
