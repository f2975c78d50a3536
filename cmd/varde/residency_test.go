package main

import (
	"bytes"
	"context"
	"encoding/json"
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
		"webshop-frankfurt  in_eea                       yes        info      DE",
		"newsletter-london  adequate                     yes        info      GB",
		"analytics-us       transfer_mechanism_required  no         high      US",
		"mail-us-sccs       transfer_mechanism_required  yes        low       US",
		"edge-dns-logs      unknown                      no         high      AU",
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
	var rep struct {
		RulesVersion string `json:"rules_version"`
		Stores       []struct {
			Name    string `json:"name"`
			Verdict string `json:"verdict"`
		} `json:"stores"`
		Findings []struct {
			Store, RuleID, Message string
		} `json:"findings"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]string{}
	for _, s := range rep.Stores {
		verdicts[s.Name] = s.Verdict
	}
	if verdicts["analytics-us"] != "in_eea" || verdicts["patient-journal"] != "in_eea" {
		t.Errorf("verdicts %v", verdicts)
	}
	var contradicted, proven bool
	for _, f := range rep.Findings {
		contradicted = contradicted || f.Store == "analytics-us" && strings.Contains(f.Message, "GeoIP answer US: contradicted")
		proven = proven || f.Store == "patient-journal" && strings.Contains(f.Message, "GeoIP answer NO: proven")
	}
	if !contradicted || !proven {
		t.Errorf("contradicted=%v proven=%v", contradicted, proven)
	}
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
