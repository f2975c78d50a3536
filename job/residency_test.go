package job

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/reports"
	"github.com/varde/varde/storage"
)

// The cases of issue 13 through job.Run: the stored findings carry the three-way status, the report's
// headline counts it, credentials never reach the evidence, and the GeoIP database's age and basis are
// findings and in the report.
func TestRunResidencyVerdicts(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(inv, []byte(`stores:
  - {name: derogation-standing, host: 1.6.0.1, kind: s3, purpose: p, data_category: ordinary, role: controller,
     transfer_mechanism: {type: derogation, reference: "Art. 49(1)(b)"}}
  - {name: japan-undeclared, host: 1.5.0.1, kind: s3, purpose: p, data_category: ordinary, role: controller}
  - {name: dpf-stale, host: 52.216.0.1, kind: s3, purpose: p, data_category: ordinary, role: processor,
     transfer_mechanism: {type: adequacy, reference: "DPF list: Example Inc.", coverage: "DPF-certified", checked_on: 2025-05-01}}
  - {name: svalbard, host: 212.105.148.1, kind: s3, purpose: p, data_category: ordinary, role: controller}
  - {name: anycast-dns, host: 1.1.1.1, kind: dns, purpose: p, data_category: ordinary, role: processor,
     transfer_mechanism: {type: sccs, reference: "DPA 9"}}
  - {name: oslo, url: "postgres://app:hunter2@129.240.2.3:5432/app?password=hunter3", kind: postgres, purpose: p,
     data_category: ordinary, role: controller}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{
		Organisation: "Fjordnett AS", Period: "2025-Q3", Inventory: inv,
		Vantages:  []Vantage{{Name: "oslo-nix-1", Latitude: 59.91, Longitude: 10.75}},
		Signing:   Signing{KeysDir: filepath.Join(dir, "keys"), Init: true},
		OutputDir: filepath.Join(dir, "out"),
	}
	ctx := context.Background()
	res, err := Run(ctx, cfg, Options{Store: s, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range res.Steps {
		if st.Step == stepResidency && StepStatus(st.Status) != StepSucceeded {
			t.Fatalf("residency step %s: %s", st.Status, st.Message)
		}
	}
	findings, err := s.Findings(ctx, res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]residency.Status{}
	var stale bool
	for _, f := range findings {
		if strings.Contains(string(f.Evidence)+f.Summary+f.Subject, "hunter") {
			t.Errorf("finding %s on %s carries a credential", f.RuleID, f.Subject)
		}
		stale = stale || f.RuleID == residency.RuleGeoIPStale
		if f.RuleID == residency.RuleStore {
			st, err := storeStatus(f)
			if err != nil {
				t.Fatal(err)
			}
			status[strings.TrimPrefix(f.Subject, "store ")] = st
		}
	}
	for name, want := range map[string]residency.Status{
		"derogation-standing": residency.StatusNotCompliant,
		"japan-undeclared":    residency.StatusNotCompliant,
		"dpf-stale":           residency.StatusNotShownCompliant,
		"svalbard":            residency.StatusNotShownCompliant,
		"anycast-dns":         residency.StatusNotShownCompliant,
		"oslo":                residency.StatusCompliant,
	} {
		if status[name] != want {
			t.Errorf("%s: stored status %q, want %q", name, status[name], want)
		}
	}
	if !stale {
		t.Error("no geoip_stale finding for the default database, 105 days old at the pinned clock")
	}
	obs, err := s.Observations(ctx, res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range obs {
		if strings.Contains(fmt.Sprint(o), "hunter") || strings.Contains(string(o.Details), "hunter") {
			t.Errorf("observation of %s carries a credential", o.Subject)
		}
	}
	sa, err := loadStored(ctx, s, res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sa.complianceModel()
	if err != nil {
		t.Fatal(err)
	}
	if m.Headline == nil || *m.Headline != (reports.Headline{Compliant: 1, NotCompliant: 2, NotShownCompliant: 3}) {
		t.Errorf("headline %+v, want 1 compliant, 2 not compliant, 3 not shown compliant", m.Headline)
	}
	var geo *reports.DatabaseProvenance
	for i, d := range m.Evidence.Databases {
		if d.Basis != "" {
			geo = &m.Evidence.Databases[i]
		}
	}
	if geo == nil || geo.Basis != string(residency.BasisRegistration) || !geo.AgeKnown || geo.AgeDays != 105 {
		t.Errorf("GeoIP provenance in the report: %+v", geo)
	}
	for _, r := range m.Residency {
		if strings.Contains(r.Store, "hunter") {
			t.Errorf("report row %q carries a credential", r.Store)
		}
	}
}

// geoipupdate's databases are used before the shipped default: its GeoIP.conf DatabaseDirectory first,
// then its default directories.
func TestDiscoverGeoIP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	confDir, custom, share := filepath.Join(dir, "etc"), filepath.Join(dir, "custom"), filepath.Join(dir, "share")
	for _, d := range []string{confDir, custom, share} {
		os.MkdirAll(d, 0o755)
	}
	conf := filepath.Join(confDir, "GeoIP.conf")
	if got, err := DiscoverGeoIP([]string{conf}, []string{share}); err != nil || got != "" {
		t.Errorf("nothing installed: %q %v, want the default", got, err)
	}
	os.WriteFile(filepath.Join(share, "GeoLite2-Country.mmdb"), []byte("x"), 0o644)
	if got, _ := DiscoverGeoIP([]string{conf}, []string{share}); got != filepath.Join(share, "GeoLite2-Country.mmdb") {
		t.Errorf("default directory: %q", got)
	}
	os.WriteFile(conf, []byte("# geoipupdate\nAccountID 1\nDatabaseDirectory "+custom+"\n"), 0o644)
	os.WriteFile(filepath.Join(custom, "GeoIP2-City.mmdb"), []byte("x"), 0o644)
	if got, _ := DiscoverGeoIP([]string{conf}, []string{share}); got != filepath.Join(custom, "GeoIP2-City.mmdb") {
		t.Errorf("DatabaseDirectory: %q", got)
	}
	os.Chmod(conf, 0)
	if _, err := os.ReadFile(conf); err == nil {
		return // running as root: the permission case cannot be made
	}
	if _, err := DiscoverGeoIP([]string{conf}, nil); err == nil || !strings.Contains(err.Error(), conf) {
		t.Errorf("unreadable GeoIP.conf: %v", err)
	}
}

// RTT files from other vantages join the audit's own measurements: through job.Run, a store GeoIP puts in
// the US but that answers 3 ms from Oslo needs review (never "compliant"), and a store measured from Oslo
// and Frankfurt is judged on the intersection of both discs. The files are hashed into the header.
func TestRunResidencyRTTFromSeveralVantages(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(inv, []byte(`stores:
  - {name: analytics-us, host: 52.216.0.1, kind: s3, purpose: p, data_category: ordinary, role: processor,
     transfer_mechanism: {type: sccs, reference: "DPA 7"}}
  - {name: journal, host: 129.240.2.3, kind: postgres, purpose: p, data_category: ordinary, role: controller}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oslo.jsonl"), []byte(
		`{"vantage":"oslo-nix-1","target":"52.216.0.1","address":"52.216.0.1","kind":"icmp","started":"2025-09-30T10:00:00Z","sent":5,"received":5,"min_ms":3.0}
{"vantage":"oslo-nix-1","target":"129.240.2.3","address":"129.240.2.3","kind":"icmp","started":"2025-09-30T10:00:00Z","sent":5,"received":5,"min_ms":0.8}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fra.jsonl"), []byte(
		`{"vantage":"fra-1","target":"129.240.2.3","address":"129.240.2.3","kind":"icmp","started":"2025-09-30T10:05:00Z","sent":5,"received":5,"min_ms":14.0}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{
		Organisation: "Fjordnett AS", Period: "2025-Q3", Inventory: inv,
		Vantages: []Vantage{{Name: "oslo-nix-1", Latitude: 59.91, Longitude: 10.75},
			{Name: "fra-1", Latitude: 50.11, Longitude: 8.68}},
		RTTFiles:  []string{filepath.Join(dir, "oslo.jsonl"), filepath.Join(dir, "fra.jsonl")},
		Signing:   Signing{KeysDir: filepath.Join(dir, "keys"), Init: true},
		OutputDir: filepath.Join(dir, "out"),
	}
	ctx := context.Background()
	res, err := Run(ctx, cfg, Options{Store: s, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	findings, err := s.Findings(ctx, res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	var contradiction, intersected bool
	for _, f := range findings {
		text := f.Summary + " " + string(f.Evidence)
		if f.RuleID == residency.RuleStore {
			st, err := storeStatus(f)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]residency.Status{"store analytics-us": residency.StatusNotShownCompliant,
				"store journal": residency.StatusCompliant}[f.Subject]
			if st != want {
				t.Errorf("%s: status %s, want %s", f.Subject, st, want)
			}
		}
		if strings.Contains(f.Subject, "52.216.0.1") && strings.Contains(text, "GeoIP says US") &&
			strings.Contains(text, "endpoint cannot be in country US") {
			contradiction = true
		}
		if strings.Contains(f.Subject, "129.240.2.3") && strings.Contains(text, "intersected with the discs from fra-1") {
			intersected = true
		}
	}
	if !contradiction {
		t.Error("no finding states the GeoIP/physics contradiction for analytics-us")
	}
	if !intersected {
		t.Error("no finding for journal says its disc was intersected with fra-1's")
	}
	es, err := s.Entries(ctx, res.AuditID)
	if err != nil || len(es) == 0 || es[0].Kind != "header" {
		t.Fatalf("entries: %v %v", es, err)
	}
	var hdr storage.Header
	if err := json.Unmarshal(es[0].Body, &hdr); err != nil {
		t.Fatal(err)
	}
	var rtts int
	for _, f := range hdr.Files {
		if f.Kind == "rtt" && len(f.SHA256) == 64 {
			rtts++
		}
	}
	if rtts != 2 {
		t.Errorf("header files %+v: want both RTT files with their sha256", hdr.Files)
	}

	// An RTT file naming a vantage the config does not place fails the residency step, naming file:line.
	bad := filepath.Join(dir, "bergen.jsonl")
	if err := os.WriteFile(bad, []byte(`{"vantage":"bergen-1","target":"129.240.2.3","address":"129.240.2.3","kind":"icmp","started":"2025-09-30T10:00:00Z","sent":5,"received":5,"min_ms":7.0}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.RTTFiles = []string{bad}
	res, _ = Run(ctx, cfg, Options{Store: s, Now: clock})
	var msg string
	for _, st := range res.Steps {
		if st.Step == stepResidency {
			msg = st.Status + ": " + st.Message
		}
	}
	if !strings.HasPrefix(msg, "failed") || !strings.Contains(msg, bad+":1") || !strings.Contains(msg, `"bergen-1" has no coordinates`) {
		t.Errorf("residency step with an unplaced vantage: %q", msg)
	}
}
