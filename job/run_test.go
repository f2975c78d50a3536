package job

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/reports"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// clock is pinned so that no test depends on today's date.
var clock = func() time.Time { return time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC) }

func newStore(t *testing.T) *storage.Store {
	t.Helper()
	s, _ := newStoreURL(t)
	return s
}

// newStoreURL is newStore with the database's URL, for a test that goes behind the store's back.
func newStoreURL(t *testing.T) (*storage.Store, string) {
	t.Helper()
	url := pgtest.Database(t)
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: url, SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s, url
}

// A Config built in code with only the required fields runs: defaults are filled in by Validate, steps
// with nothing configured are skipped, and the reports are signed.
func TestRunConfigBuiltInCode(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	dir := t.TempDir()
	cfg := &Config{
		Organisation: "Fjordnett AS",
		Vantages:     []Vantage{{Name: "oslo-nix-1", Latitude: 59.91, Longitude: 10.75}},
		Signing:      Signing{KeysDir: filepath.Join(dir, "keys"), Init: true},
		OutputDir:    filepath.Join(dir, "out"),
	}
	res, err := Run(context.Background(), cfg, Options{Store: s, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != storage.StatusSucceeded || len(res.Reports) != 1 || res.Reports[0].Kind != string(ReportCompliance) || !res.Chain.OK() {
		t.Fatalf("result: %+v", res)
	}
	want := map[string]StepStatus{stepProbes: StepSkipped, stepResidency: StepSkipped, stepGuest: StepSkipped, stepReports: StepSucceeded}
	for _, st := range res.Steps {
		if StepStatus(st.Status) != want[st.Step] {
			t.Errorf("step %s: %s (%s), want %s", st.Step, st.Status, st.Message, want[st.Step])
		}
	}
	a, err := s.GetAudit(context.Background(), res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != KindQuarterly || !a.StartedAt.Equal(clock()) {
		t.Errorf("stored audit: kind %s, started %v", a.Kind, a.StartedAt)
	}
	// Sealed, with a checkpoint beside the keys that covers the seal and the report, which embeds both.
	if res.Checkpoint != filepath.Join(dir, "keys", "checkpoints", "checkpoint-00000002.txt") || res.Seal.Idx != 0 {
		t.Errorf("seal %+v, checkpoint %q", res.Seal, res.Checkpoint)
	}
	lg, err := OpenLogVerifier(s, filepath.Join(dir, "keys", evidencelog.PubKeyFile), filepath.Join(dir, "keys", "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := lg.VerifyAudit(context.Background(), res.AuditID); err != nil || len(v.Checked) != 4 {
		t.Errorf("verify against the log: %+v %v", v, err)
	}
	pdf, err := os.ReadFile(res.Reports[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := lg.VerifyReport(context.Background(), pdf); err != nil || len(v.Checked) != 5 {
		t.Errorf("verify the report against the database: %+v %v", v, err)
	}
	if _, err := lg.VerifyReport(context.Background(), append(pdf, "\n% appended\n"...)); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("a changed report file: %v", err)
	}
	// The caller's Config is left as it was: defaults went into Run's copy.
	if cfg.Kind != "" || cfg.Probes.ICMP != nil {
		t.Errorf("Run wrote defaults into the caller's config: %+v", cfg)
	}
}

// A Config built in code that lacks required fields, or no Config or no store at all, is a clear error,
// never a panic, and stores nothing.
func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	cases := []struct {
		name string
		cfg  *Config
		opts Options
		want string
	}{
		{"empty config", &Config{}, Options{Store: s}, "audit config: organisation is required"},
		{"no vantage", &Config{Organisation: "x", Signing: Signing{KeysDir: "k"}}, Options{Store: s}, "vantage: name the local vantage"},
		{"no signing", &Config{Organisation: "x", Vantages: []Vantage{{Name: "v"}}}, Options{Store: s}, "signing: give keys_dir"},
		{"bad period", &Config{Organisation: "x", Period: "2026-Q9", Vantages: []Vantage{{Name: "v"}}, Signing: Signing{KeysDir: "k"}}, Options{Store: s}, `period: "2026-Q9"`},
		{"no log key", &Config{Organisation: "x", Vantages: []Vantage{{Name: "v"}}, Signing: Signing{KeysDir: t.TempDir()}}, Options{Store: s}, "`varde keys log DIR` makes one"},
		{"nil config", nil, Options{Store: s}, "audit config: none given"},
		{"no store", &Config{}, Options{}, "Store is required"},
	}
	for _, tc := range cases {
		res, err := Run(ctx, tc.cfg, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || res != nil {
			t.Errorf("%s: %v (result %v), want an error containing %q", tc.name, err, res, tc.want)
		}
	}
	as, err := s.ListAudits(ctx)
	if err != nil || len(as) != 0 {
		t.Errorf("refused configs stored %d audits (%v)", len(as), err)
	}
}

func TestGenerateReportsRefusesBadOptions(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	for _, tc := range []struct {
		opts ReportOptions
		want string
	}{
		{ReportOptions{}, "audit ID 0"},
		{ReportOptions{AuditID: 1}, "Signer is required"},
		{ReportOptions{AuditID: 1, Signer: &sign.Signer{}, Kinds: []ReportKind{"summary"}}, `kind "summary"`},
	} {
		if _, err := GenerateReports(context.Background(), s, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
}

// An audit stored by varde 493b3d4, before findings had a compliant column (schema version 1), still
// verifies after migration and its reports are still made, with the same verdicts: compliant comes from
// the evidence JSON of such rows.
func TestReportsOfAuditStoredBeforeMigration2(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: url, SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.MigrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	pgtest.LoadSQL(t, url, "../storage/testdata/audit-schema1.sql")
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sa, err := loadStored(ctx, s, 1) // verifies the chain first
	if err != nil {
		t.Fatal(err)
	}
	m, err := sa.complianceModel()
	if err != nil {
		t.Fatal(err)
	}
	violations := map[string]bool{}
	for _, f := range m.Findings {
		if f.Verdict == reports.VerdictViolation {
			violations[f.Subject] = true
		}
	}
	// The US store that declares no transfer mechanism and its address, as varde 493b3d4 reported them.
	if len(violations) != 2 || !violations["store analytics-us"] || !violations["address 52.216.0.1 (host 52.216.0.1)"] {
		t.Errorf("violations in the legacy audit's report: %v", violations)
	}
	dir := t.TempDir()
	if _, err := sign.InitKeys(ctx, dir, sign.KeysConfig{Now: clock}); err != nil {
		t.Fatal(err)
	}
	signer, err := sign.Load(filepath.Join(dir, sign.SignerFile), filepath.Join(dir, sign.SignerKeyFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	reps, err := GenerateReports(ctx, s, ReportOptions{AuditID: 1, Signer: signer, OutDir: dir, Now: clock})
	if err != nil || len(reps) != 2 {
		t.Fatalf("reports of the legacy audit: %v %v", reps, err)
	}
	// Sealed into the log afterwards (acceptance 4): the seal and the earlier reports become leaves,
	// reports made now embed the proof, and the whole audit verifies against the checkpoints. The log:
	// the seal, the four reports made before, the one made now.
	if _, _, err := evidencelog.GenerateKey(filepath.Join(dir, "log"), "varde.test/log"); err != nil {
		t.Fatal(err)
	}
	lg, err := OpenLog(s, filepath.Join(dir, "log", evidencelog.KeyFile), filepath.Join(dir, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	reps, err = GenerateReports(ctx, s, ReportOptions{AuditID: 1, Signer: signer, OutDir: filepath.Join(dir, "logged"), Now: clock, Kinds: []ReportKind{ReportCompliance}, Log: lg})
	if err != nil || len(reps) != 1 {
		t.Fatalf("logged report of the legacy audit: %v %v", reps, err)
	}
	v, err := lg.VerifyAudit(ctx, 1)
	if err != nil || v.LeafIndex != 0 || v.Latest.Size != 6 || v.Chain.Form != storage.FormGo {
		t.Fatalf("legacy audit against the log: %+v %v", v, err)
	}
	pdf, err := os.ReadFile(reps[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lg.VerifyReport(ctx, pdf); err != nil {
		t.Errorf("legacy audit's logged report: %v", err)
	}
}

// A step whose outcome cannot be stored is never reported as done: the progress line says it was not
// recorded, the result counts it as failed and the audit ends partial, not succeeded.
func TestStepNotRecordedIsNotReportedDone(t *testing.T) {
	t.Parallel()
	s, url := newStoreURL(t)
	ctx := context.Background()
	// The database refuses the guest step's row, as a lost connection would.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `
		CREATE FUNCTION refuse_guest() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.step = 'guest' THEN RAISE EXCEPTION 'guest step refused by test'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_guest BEFORE INSERT ON audit_steps FOR EACH ROW EXECUTE FUNCTION refuse_guest();`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := &Config{
		Organisation: "Fjordnett AS",
		Vantages:     []Vantage{{Name: "oslo-nix-1", Latitude: 59.91, Longitude: 10.75}},
		Signing:      Signing{KeysDir: filepath.Join(dir, "keys"), Init: true},
		OutputDir:    filepath.Join(dir, "out"),
	}
	var lines []string
	res, err := Run(ctx, cfg, Options{Store: s, Now: clock, Progress: func(m string) { lines = append(lines, m) }})
	if res == nil {
		t.Fatalf("no result: %v", err)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "guest: skipped") || strings.HasPrefix(l, "guest: succeeded") {
			t.Errorf("progress claims an outcome the database refused: %q", l)
		}
	}
	if !strings.Contains(strings.Join(lines, "\n"), "guest: not recorded") {
		t.Errorf("no 'not recorded' line in:\n%s", strings.Join(lines, "\n"))
	}
	if res.Status != storage.StatusPartial {
		t.Errorf("audit status %s, want partial", res.Status)
	}
	a, err := s.GetAudit(ctx, res.AuditID)
	if err != nil || a.Status != storage.StatusPartial {
		t.Errorf("stored audit %+v (%v), want partial", a, err)
	}
}
