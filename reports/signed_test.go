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
