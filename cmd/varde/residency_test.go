package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleInventory = "../../audit/residency/testdata/sample-inventory.yaml"

func TestResidencySampleInventory(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"residency", "--inventory", sampleInventory, "--date", "2025-09-30"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{
		"Stores: 8 compliant, 3 not compliant, 0 not shown compliant",
		"webshop-frankfurt  in_eea                       compliant      info      DE",
		"newsletter-london  adequate                     compliant      info      GB",
		"analytics-us       transfer_mechanism_required  not_compliant  high      US",
		"mail-us-sccs       transfer_mechanism_required  compliant      low       US",
		"edge-dns-logs      unknown                      not_compliant  high      AU",
		"Records of processing, GDPR Art. 30(1)(e):",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestResidencyJSONWithRTT(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rtt := filepath.Join(dir, "probe.jsonl")
	// GeoIP says US for 52.216.0.1, but it answers 3 ms from Oslo: physics contradicts it.
	if err := os.WriteFile(rtt, []byte(`{"vantage":"oslo-nix-1","target":"52.216.0.1","address":"52.216.0.1","kind":"icmp","port":0,"started":"2025-09-30T10:00:00Z","failure":"","sent":5,"received":5,"min_ms":3.0}
{"vantage":"oslo-nix-1","target":"129.240.2.3","address":"129.240.2.3","kind":"icmp","port":0,"started":"2025-09-30T10:00:00Z","failure":"","sent":5,"received":5,"min_ms":0.8}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"residency", "--inventory", sampleInventory, "--date", "2025-09-30",
		"--rtt", rtt, "--vantage", "oslo-nix-1=59.91,10.75", "--json"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	rep := decodeResidency(t, out.Bytes())
	// GeoIP says US for 52.216.0.1, physics puts the endpoint within a few hundred km of Oslo: not shown
	// compliant, needs review, with both answers; the disc's countries never replace the GeoIP answer.
	if st := rep.store("analytics-us"); st.Verdict != "needs_review" || st.Status != "not_shown_compliant" || strings.Join(st.Countries, ",") != "US" {
		t.Errorf("analytics-us: %+v", st)
	}
	if st := rep.store("patient-journal"); st.Verdict != "in_eea" || st.Status != "compliant" {
		t.Errorf("patient-journal: %+v", st)
	}
	if f := rep.finding("analytics-us", "residency.transfer"); f == nil || !strings.Contains(f.Message, "GeoIP says US") ||
		!strings.Contains(f.Message, "endpoint cannot be in country US") || f.Verdict != "needs_review" {
		t.Errorf("analytics-us transfer finding: %+v", f)
	}
	if f := rep.finding("patient-journal", "residency.physics"); f == nil ||
		!strings.Contains(f.Message, "GeoIP answer NO: endpoint within 145 km of vantage oslo-nix-1") ||
		!strings.Contains(f.Message, "not the data behind it") {
		t.Errorf("patient-journal physics finding: %+v", f)
	}
	if rep.Headline["compliant"] != 8 || rep.Headline["not_compliant"] != 1 || rep.Headline["not_shown_compliant"] != 2 {
		t.Errorf("headline %v", rep.Headline)
	}
}

// residencyJSON is the part of `varde residency --json` the tests read.
type residencyJSON struct {
	RulesVersion string         `json:"rules_version"`
	Headline     map[string]int `json:"headline"`
	Sources      []struct {
		Path    string
		Basis   string `json:"basis"`
		AgeDays int    `json:"age_days"`
	} `json:"geoip_sources"`
	Stores []struct {
		Name      string   `json:"name"`
		Location  string   `json:"location"`
		Verdict   string   `json:"verdict"`
		Status    string   `json:"status"`
		Compliant bool     `json:"compliant"`
		Countries []string `json:"countries"`
	} `json:"stores"`
	Findings []struct {
		Store     string `json:"store"`
		Subject   string `json:"subject"`
		RuleID    string `json:"rule_id"`
		Verdict   string `json:"verdict"`
		Compliant bool   `json:"compliant"`
		Severity  string `json:"severity"`
		Message   string `json:"message"`
	} `json:"findings"`
}

func decodeResidency(t *testing.T, b []byte) *residencyJSON {
	t.Helper()
	var rep residencyJSON
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return &rep
}

func (r *residencyJSON) store(name string) (out struct {
	Name, Location, Verdict, Status string
	Compliant                       bool
	Countries                       []string
}) {
	for _, s := range r.Stores {
		if s.Name == name {
			out.Name, out.Location, out.Verdict, out.Status, out.Compliant, out.Countries = s.Name, s.Location, s.Verdict, s.Status, s.Compliant, s.Countries
		}
	}
	return out
}

func (r *residencyJSON) finding(store, rule string) *struct {
	Store, Subject, RuleID, Verdict string
	Compliant                       bool
	Severity, Message               string
} {
	for _, f := range r.Findings {
		if f.Store == store && f.RuleID == rule {
			return &struct {
				Store, Subject, RuleID, Verdict string
				Compliant                       bool
				Severity, Message               string
			}{f.Store, f.Subject, f.RuleID, f.Verdict, f.Compliant, f.Severity, f.Message}
		}
	}
	return nil
}

func TestResidencyBadInput(t *testing.T) {
	t.Parallel()
	broken := "../../geoip/testdata/GeoIP2-City-Test-Broken-Double-Format.mmdb"
	dir := t.TempDir()
	badInv := filepath.Join(dir, "inv.yaml")
	os.WriteFile(badInv, []byte("stores:\n  - name: a\n    hots: x\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"residency", "--inventory", sampleInventory, "--geoip-db", broken}, broken},
		{[]string{"residency", "--inventory", badInv}, badInv + ":3: store: unknown field \"hots\""},
		{[]string{"residency"}, "--inventory is required"},
		{[]string{"residency", "--inventory", sampleInventory, "--date", "30.09.2025"}, "want YYYY-MM-DD"},
		{[]string{"residency", "--inventory", sampleInventory, "--date", "2017-01-01"}, "20 Jul 2018"},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), tc.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// issue13Inventory has one store per case a DPO must not see pass; every address is a literal whose country
// the shipped default database gives (JP 1.5.0.0/16, IN 1.6.0.0/15, KR 1.11.0.0/16, IL 2.52.0.0/14,
// CA 3.96.0.0/14, US 52.216.0.1, SJ 212.105.148.0/23).
const issue13Inventory = `version: 1
policy:
  geoip_max_age_days: 1
%s
stores:
  - {name: derogation-standing, host: 1.6.0.1, kind: s3, purpose: p, data_category: ordinary, role: controller,
     transfer_mechanism: {type: derogation, reference: "Art. 49(1)(b)"}}
  - {name: derogation-occasional, host: 1.6.0.1, kind: s3, purpose: p, data_category: ordinary, role: controller,
     transfer_mechanism: {type: derogation, reference: "Art. 49(1)(b)", occasional: true}}
  - {name: japan-undeclared, host: 1.5.0.1, kind: s3, purpose: p, data_category: ordinary, role: controller}
  - {name: korea-no-coverage, host: 1.11.0.1, kind: s3, purpose: p, data_category: ordinary, role: controller,
     transfer_mechanism: {type: adequacy, reference: "assessment 7"}}
  - {name: israel-covered, host: 2.52.0.1, kind: s3, purpose: p, data_category: ordinary, role: controller,
     transfer_mechanism: {type: adequacy, reference: "assessment 8", coverage: "servers in Tel Aviv, within the State of Israel"}}
  - {name: canada-covered, host: 3.96.0.1, kind: s3, purpose: p, data_category: ordinary, role: controller,
     transfer_mechanism: {type: adequacy, reference: "assessment 9", coverage: "commercial organisation under PIPEDA"}}
  - {name: dpf-stale, host: 52.216.0.1, kind: s3, purpose: p, data_category: ordinary, role: processor,
     transfer_mechanism: {type: adequacy, reference: "DPF list: Example Inc.", coverage: "DPF-certified, non-HR", checked_on: 2025-05-01}}
  - {name: dpf-fresh, host: 52.216.0.1, kind: s3, purpose: p, data_category: ordinary, role: processor,
     transfer_mechanism: {type: adequacy, reference: "DPF list: Example Inc.", coverage: "DPF-certified, non-HR", checked_on: 2025-09-01}}
  - {name: svalbard, host: 212.105.148.1, kind: s3, purpose: p, data_category: ordinary, role: controller}
  - {name: secret-url, url: "postgres://admin:hunter2@129.240.2.3:5432/db?sslmode=require&password=hunter3&Api-Key=hunter4",
     kind: postgres, purpose: p, data_category: ordinary, role: controller}
`

func runIssue13(t *testing.T, policy string) (*residencyJSON, string) {
	t.Helper()
	inv := filepath.Join(t.TempDir(), "inv.yaml")
	if err := os.WriteFile(inv, []byte(fmt.Sprintf(issue13Inventory, policy)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"residency", "--inventory", inv, "--date", "2025-09-30", "--json"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	return decodeResidency(t, out.Bytes()), out.String()
}

// Each case of issue 13 through `varde residency --json`.
func TestResidencyVerdictsADPOWouldSign(t *testing.T) {
	t.Parallel()
	rep, raw := runIssue13(t, "")
	for name, want := range map[string]string{
		"derogation-standing":   "not_compliant",       // Art. 49 for a standing store
		"derogation-occasional": "compliant",           // marked occasional: the DPO's documented assessment
		"japan-undeclared":      "not_compliant",       // scoped decision, nothing declared
		"korea-no-coverage":     "not_shown_compliant", // adequacy declared without coverage
		"israel-covered":        "compliant",
		"canada-covered":        "compliant",
		"dpf-stale":             "not_shown_compliant", // checked 152 days before the audit date
		"dpf-fresh":             "compliant",
		"svalbard":              "not_shown_compliant", // policy needs_review by default
		"secret-url":            "compliant",
	} {
		if st := rep.store(name); st.Status != want {
			t.Errorf("%s: status %q (verdict %s), want %s", name, st.Status, st.Verdict, want)
		}
	}
	if f := rep.finding("derogation-occasional", "residency.transfer"); f == nil || !strings.Contains(f.Message, "DPO's documented assessment") {
		t.Errorf("occasional derogation: %+v", f)
	}
	if f := rep.finding("dpf-stale", "residency.transfer"); f == nil || !strings.Contains(f.Message, "stale after 90 days") {
		t.Errorf("stale DPF: %+v", f)
	}
	if f := rep.finding("svalbard", "residency.transfer"); f == nil || !strings.Contains(f.Message, "Protocol 40") {
		t.Errorf("svalbard: %+v", f)
	}
	if rep.Headline["compliant"] != 5 || rep.Headline["not_compliant"] != 2 || rep.Headline["not_shown_compliant"] != 3 {
		t.Errorf("headline %v, want 5 compliant, 2 not compliant, 3 not shown compliant", rep.Headline)
	}
	// Credentials never leave the inventory: not in the location, the findings or the observations.
	if strings.Contains(raw, "hunter") || strings.Contains(raw, "admin:") {
		t.Errorf("a credential from the inventory is in the output")
	}
	if loc := rep.store("secret-url").Location; loc != "postgres://REDACTED@129.240.2.3:5432/db?sslmode=require&password=REDACTED&Api-Key=REDACTED" {
		t.Errorf("location %q", loc)
	}
	// The default database is registration-based and older than the 1-day policy.
	if len(rep.Sources) != 1 || rep.Sources[0].Basis != "registration-based" || rep.Sources[0].AgeDays < 2 {
		t.Errorf("sources %+v", rep.Sources)
	}
	var stale, registration bool
	for _, f := range rep.Findings {
		stale = stale || f.RuleID == "residency.geoip_stale" && strings.Contains(f.Message, "older than the 1 days")
		registration = registration || f.RuleID == "residency.geoip_registration"
	}
	if !stale || !registration {
		t.Errorf("geoip_stale %v, geoip_registration %v", stale, registration)
	}
}

// The Svalbard and Jan Mayen policy, and the DPF staleness, are settings.
func TestResidencyPolicies(t *testing.T) {
	t.Parallel()
	rep, _ := runIssue13(t, "  svalbard_jan_mayen: norway\n  dpf_max_age_days: 200")
	if st := rep.store("svalbard"); st.Status != "compliant" {
		t.Errorf("svalbard under policy norway: %+v", st)
	}
	if st := rep.store("dpf-stale"); st.Status != "compliant" {
		t.Errorf("DPF checked 152 days before, policy 200 days: %+v", st)
	}
	rep, _ = runIssue13(t, "  svalbard_jan_mayen: third_country")
	if st := rep.store("svalbard"); st.Status != "not_compliant" {
		t.Errorf("svalbard under policy third_country: %+v", st)
	}
	inv := filepath.Join(t.TempDir(), "inv.yaml")
	os.WriteFile(inv, []byte(fmt.Sprintf(issue13Inventory, "  svalbard_jan_mayen: maybe")), 0o644)
	err := run(context.Background(), []string{"residency", "--inventory", inv}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), inv+":3: policy svalbard_jan_mayen \"maybe\"") {
		t.Errorf("bad policy: %v", err)
	}
}
