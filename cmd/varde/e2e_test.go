package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/varde/varde/job"
	"github.com/varde/varde/probes/lab"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

// TestAuditRunEndToEnd runs the main job through run(): a throwaway database, the latency lab (as root, in
// its own process as varde-lab),
// the demo inventory on the shipped GeoIP default, a guest snapshot of the seed's Xen guest, and signed
// reports; then it checks what was stored, varde verify, and the PDFs. It does not run in parallel: the
// lab's delay line must not compete with other tests for the CPU while it measures.
func TestAuditRunEndToEnd(t *testing.T) {
	withLab := lab.Available() == nil
	if !withLab && os.Getenv("CI") == "true" {
		t.Fatalf("the end-to-end test needs the latency lab in CI: %v", lab.Available())
	}
	url := pgtest.Database(t)
	dir := t.TempDir()
	if _, _, err := runT(t, url, "db", "migrate"); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "seed.tar.gz")
	if _, _, err := runT(t, url, "guest", "collect", "--root", "../../guest/testdata/fixtures/centos6-xen-pv", "-o", snap); err != nil {
		t.Fatal(err)
	}
	inventory, err := filepath.Abs("../../demo/stores.yaml")
	if err != nil {
		t.Fatal(err)
	}
	truth := map[string]time.Duration{"oslo-nix": 2 * time.Millisecond, "frankfurt": 25 * time.Millisecond, "us-east": 95 * time.Millisecond}
	cfg := fmt.Sprintf(`organisation: Testfjord AS, Ærøy Å
kind: quarterly
period: 2026-Q3
vantage: oslo-nix-1
vantages:
  - {name: oslo-nix-1, city: Oslo, latitude: 59.91, longitude: 10.75, network: NIX}
probes: {count: 20, tcp_count: 10, interval: 10ms, timeout: 1s}
targets:
  - {name: oslo-nix, label: Our DC via NIX, lab_rtt: 2ms, port: 443, ours: true}
  - {name: frankfurt, label: Frankfurt, lab_rtt: 25ms, port: 443}
  - {name: us-east, label: US East, lab_rtt: 95ms, port: 443}
inventory: %s
guest: {snapshots: [%s]}
signing: {keys_dir: keys, init: true}
output_dir: out
`, inventory, snap)
	cfgPath := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The lab runs in its own process, as in the demo: build it for this test.
	labBin := filepath.Join(dir, "varde-lab")
	if b, err := exec.Command("go", "build", "-o", labBin, "../../demo/varde-lab").CombinedOutput(); err != nil {
		t.Fatalf("build varde-lab: %v\n%s", err, b)
	}
	var stdout, stderr strings.Builder
	err = runEnv(context.Background(), []string{"audit", "run", "--config", cfgPath}, &stdout, &stderr, func(k string) string {
		return map[string]string{"DATABASE_URL": url, "VARDE_LAB": labBin}[k]
	})
	out, errOut := stdout.String(), stderr.String()
	if err != nil {
		t.Fatalf("audit run: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	m := regexp.MustCompile(`(?m)^audit (\d+) succeeded$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("audit run printed no success line:\n%s", out)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)

	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.GetAudit(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != storage.StatusSucceeded || a.FinishedAt == nil || a.Kind != "quarterly" || a.PeriodEnd == nil {
		t.Fatalf("stored audit: %+v", a)
	}

	// Probes: the lab's delays come back (medians no lower than configured), or loopback TCP when not root.
	ms, err := s.Measurements(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, mm := range ms {
		kinds[mm.ProbeKind]++
		if len(mm.Samples) != mm.Sent || mm.Received == 0 {
			t.Errorf("measurement %s/%s: %d samples, sent %d, received %d", mm.Target, mm.ProbeKind, len(mm.Samples), mm.Sent, mm.Received)
		}
		if !withLab {
			continue
		}
		// The lab never gives less than the configured RTT, so a median below it is a probe that is wrong.
		// Above it, a busy machine can make the lab late; the probes and probes/lab tests judge accuracy
		// against the RTT the lab really gave each packet, which this end-to-end run does not see. Here the
		// stored median must stay near the truth and keep the three targets apart.
		st := job.StatsOf(mm).Median
		if d := st - truth[mm.Target]; d < 0 || d > 2*time.Millisecond {
			t.Errorf("%s %s median %v, truth %v: want within [0, +2 ms] of it", mm.Target, mm.ProbeKind, st, truth[mm.Target])
		}
	}
	if withLab && (kinds["icmp"] != 3 || kinds["tcp"] != 3) {
		t.Errorf("measurement kinds %v, want 3 icmp and 3 tcp", kinds)
	}

	// Residency: the US store without a mechanism is a violation; the DPF store is adequate.
	fs, err := s.Findings(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]string{}
	for _, f := range fs {
		if f.RuleID == "residency.store" {
			verdicts[f.Subject] = f.Verdict + "/" + f.Severity
		}
	}
	want := map[string]string{"analytics-us": "transfer_mechanism_required", "crm-us-dpf": "adequate",
		"patient-journal": "in_eea", "backups-stockholm": "in_eea", "webshop-frankfurt": "in_eea", "support-dublin": "in_eea"}
	for store, v := range want {
		got := ""
		for subj, gv := range verdicts {
			if strings.Contains(subj, store) {
				got = gv
			}
		}
		if !strings.HasPrefix(got, v+"/") {
			t.Errorf("store %s: verdict %q, want %s (all: %v)", store, got, v, verdicts)
		}
	}

	// Guest checks from the seed's snapshot.
	crs, err := s.CheckResults(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sawCFQ := false
	for _, c := range crs {
		if strings.Contains(c.CheckID, "scheduler") && c.Result == "warn" && strings.Contains(c.Observed, "cfq") {
			sawCFQ = true
		}
	}
	if !sawCFQ {
		t.Errorf("no cfq warning among %d check results", len(crs))
	}

	// verify, and the reports recorded with the sha256 of the files.
	vout, _, err := runT(t, url, "verify", "--audit", m[1])
	if err != nil || !strings.Contains(vout, "holds") {
		t.Fatalf("verify: %q %v", vout, err)
	}
	reps, err := s.Reports(ctx, id)
	if err != nil || len(reps) != 2 {
		t.Fatalf("reports: %v %v", reps, err)
	}
	pool, err := sign.LoadCertPool(filepath.Join(dir, "keys", sign.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		b, err := os.ReadFile(r.Path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != r.SHA256 {
			t.Errorf("%s: stored sha256 does not match the file", r.Path)
		}
		res, err := sign.Verify(b, sign.VerifyConfig{Roots: pool})
		if err != nil || !res.Valid() || len(res.Signatures) != 1 || res.Signatures[0].Level != sign.LevelBB {
			t.Errorf("%s: signature: %+v %v", r.Path, res, err)
		}
		if _, err := exec.LookPath("pdfsig"); err == nil {
			po, _ := exec.Command("pdfsig", r.Path).CombinedOutput()
			if !strings.Contains(string(po), "Signature is Valid.") || !strings.Contains(string(po), "Total document signed") {
				t.Errorf("pdfsig %s:\n%s", r.Path, po)
			}
		} else if os.Getenv("CI") == "true" {
			t.Error("pdfsig is missing in CI (make deps installs poppler-utils)")
		}
		if r.Kind == "compliance" {
			if _, err := exec.LookPath("pdftotext"); err == nil {
				txt, err := exec.Command("pdftotext", "-layout", r.Path, "-").Output()
				if err != nil {
					t.Fatal(err)
				}
				text := string(txt)
				if !strings.Contains(text, "Testfjord AS, Ærøy Å") {
					t.Errorf("compliance report lost the Norwegian organisation name")
				}
				// The headline counts and the GeoIP provenance with its age and basis (issue 13).
				for _, w := range []string{"Data stores: 5 compliant · 1 not compliant · 0 not shown compliant", "days old", "registration-based"} {
					if !strings.Contains(text, w) {
						t.Errorf("compliance report lacks %q", w)
					}
				}
				// Past the headline, whose words are fixed, the findings lead with the violation.
				_, body, _ := strings.Cut(text, "not compliant until shown.")
				if i, j := strings.Index(body, "violation"), strings.Index(body, "compliant"); i < 0 || (j >= 0 && j < i) {
					t.Errorf("compliance report does not list the violation first (violation at %d, compliant at %d)", i, j)
				}
			}
		}
	}

	// A report made again later from the stored audit alone.
	gout, _, err := runT(t, url, "report", "generate", "--audit", m[1], "--kind", "sales",
		"--keys-dir", filepath.Join(dir, "keys"), "--out", filepath.Join(dir, "again"))
	if err != nil || !strings.Contains(gout, "report sales:") {
		t.Fatalf("report generate: %q %v", gout, err)
	}
	if _, _, err := runT(t, url, "audit", "show", m[1]); err != nil {
		t.Fatal(err)
	}
}
