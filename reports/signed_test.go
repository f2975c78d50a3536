package reports_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/varde/varde/reports"
	"github.com/varde/varde/reports/sign"
)

// TestSignedComplianceReport checks that the layouts' output is a PDF reports/sign can sign and that
// poppler then validates, with the Norwegian text still extractable.
func TestSignedComplianceReport(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"pdfsig", "pdftotext"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (Debian package poppler-utils)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	now := func() time.Time { return time.Date(2026, 7, 1, 8, 30, 0, 0, time.UTC) }
	m := reports.ComplianceModel{
		Organisation: "Blåbærsyltetøy Økonomi AS, Ålesund",
		Period:       reports.Period{From: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)},
		AuditID:      "aud-signed-1",
		Findings:     []reports.Finding{{Subject: "db.ålesund.no", RuleID: "RES-1", Verdict: "violation", Severity: "high", Text: "Lagret utenfor EØS."}},
	}
	var buf bytes.Buffer
	if err := reports.Compliance(&buf, m, reports.Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := sign.InitKeys(t.Context(), filepath.Join(dir, "keys"), sign.KeysConfig{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := sign.Sign(t.Context(), buf.Bytes(), s, sign.Options{Now: now})
	if err != nil {
		t.Fatalf("sign the rendered report: %v", err)
	}
	path := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(path, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("pdfsig", path).CombinedOutput() // pdfsig exits 0 even on a bad digest: read its output
	for _, want := range []string{"Signature is Valid.", "Total document signed"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("pdfsig output lacks %q:\n%s", want, out)
		}
	}
	text, err := exec.Command("pdftotext", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Blåbærsyltetøy Økonomi AS, Ålesund", "db.ålesund.no", "Lagret utenfor EØS."} {
		if !strings.Contains(string(text), want) {
			t.Errorf("signed report text lacks %q", want)
		}
	}
}

// The evidence embedded in a report survives signing, is covered by the signature, and reads back
// byte for byte (with pdfcpu here, and with poppler's pdfdetach as a third party would).
func TestSignedReportCarriesEvidence(t *testing.T) {
	t.Parallel()
	now := func() time.Time { return time.Date(2026, 7, 1, 8, 30, 0, 0, time.UTC) }
	evidence := []byte(`{"audit_id":7,"head":"ab","checkpoint":"varde.test/log\n3\nAAAA\n"}`)
	var buf bytes.Buffer
	m := reports.ComplianceModel{Organisation: "Fjordnett AS", AuditID: "7",
		Period: reports.Period{From: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)}}
	if err := reports.Compliance(&buf, m, reports.Options{Now: now, Evidence: evidence}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := sign.InitKeys(t.Context(), filepath.Join(dir, "keys"), sign.KeysConfig{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := sign.Sign(t.Context(), buf.Bytes(), s, sign.Options{Now: now})
	if err != nil {
		t.Fatalf("sign a report with embedded evidence: %v", err)
	}
	got, err := reports.ExtractEvidence(signed)
	if err != nil || !bytes.Equal(got, evidence) {
		t.Fatalf("embedded evidence: %q %v", got, err)
	}
	res, err := sign.Verify(signed, sign.VerifyConfig{})
	if err != nil || len(res.Signatures) != 1 || !res.Signatures[0].DigestValid || res.Signatures[0].SignedLength != int64(len(signed)) {
		t.Fatalf("signature over the report with evidence: %+v %v", res, err)
	}
	if _, err := reports.ExtractEvidence(buf.Bytes()[:0]); err == nil {
		t.Error("evidence read from an empty file")
	}
	var plain bytes.Buffer
	if err := reports.Compliance(&plain, m, reports.Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := reports.ExtractEvidence(plain.Bytes()); err == nil || !strings.Contains(err.Error(), "no embedded") {
		t.Errorf("a report without evidence: %v", err)
	}
	if _, err := exec.LookPath("pdfdetach"); err == nil {
		path := filepath.Join(dir, "r.pdf")
		if err := os.WriteFile(path, signed, 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "detached.json")
		if b, err := exec.Command("pdfdetach", "-save", "1", "-o", out, path).CombinedOutput(); err != nil {
			t.Fatalf("pdfdetach: %v %s", err, b)
		}
		if b, _ := os.ReadFile(out); !bytes.Equal(b, evidence) {
			t.Errorf("pdfdetach gave %q", b)
		}
	}
}
