package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/goregular"
)

func reportPDF(t *testing.T, path string) {
	t.Helper()
	p := fpdf.New("P", "mm", "A4", "")
	p.AddUTF8FontFromBytes("go", "", goregular.TTF)
	p.AddPage()
	p.SetFont("go", "", 12)
	p.Cell(0, 10, "Rapport: data blir i Norge (æøå)")
	var b bytes.Buffer
	if err := p.Output(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReportSignAndVerifyCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if out, _, err := runT(t, "", "keys", "init", keys); err != nil || !strings.Contains(out, "sha256 ") {
		t.Fatalf("keys init: %v\n%s", err, out)
	}
	in := filepath.Join(dir, "r.pdf")
	reportPDF(t, in)
	signed := filepath.Join(dir, "signed.pdf")
	if _, _, err := runT(t, "", "report", "sign", in, "-o", signed,
		"--cert", filepath.Join(keys, "signer.pem"), "--key", filepath.Join(keys, "signer-key.pem")); err != nil {
		t.Fatal(err)
	}
	out, _, err := runT(t, "", "report", "verify", signed, "--ca", filepath.Join(keys, "ca.pem"))
	if err != nil || !strings.Contains(out, "result:        valid, B-B") || !strings.Contains(out, "covers revision 2") {
		t.Fatalf("verify good file: %v\n%s", err, out)
	}
	// Fail closed: without a trust anchor the intact signature is not trusted, exit 1.
	out, _, err = runT(t, "", "report", "verify", signed)
	if err == nil || exitCodeTo(err, &bytes.Buffer{}) != 1 || !strings.Contains(out, "signature intact, signer not trusted") ||
		!strings.Contains(out, "no trust anchors configured") {
		t.Fatalf("verify without --ca: %v\n%s", err, out)
	}

	pdf, _ := os.ReadFile(signed)
	appended := filepath.Join(dir, "appended.pdf")
	os.WriteFile(appended, append(pdf, "trailing junk\n"...), 0o644)
	out, _, err = runT(t, "", "report", "verify", appended, "--ca", filepath.Join(keys, "ca.pem"))
	if err == nil || !strings.Contains(err.Error(), "modified after signing") || exitCodeTo(err, &bytes.Buffer{}) != 1 {
		t.Fatalf("verify appended: %v\n%s", err, out)
	}

	broken := bytes.Clone(pdf)
	i := bytes.Index(broken, []byte("/MediaBox"))
	broken[i+2] = 'X'
	tampered := filepath.Join(dir, "tampered.pdf")
	os.WriteFile(tampered, broken, 0o644)
	out, _, err = runT(t, "", "report", "verify", tampered)
	if err == nil || !strings.Contains(err.Error(), "digest mismatch") || !strings.Contains(out, "digest:      FAILED") {
		t.Fatalf("verify tampered: %v\n%s", err, out)
	}

	// A foreign CA: signature intact, trust fails.
	other := filepath.Join(dir, "other")
	runT(t, "", "keys", "init", other)
	out, _, err = runT(t, "", "report", "verify", signed, "--ca", filepath.Join(other, "ca.pem"))
	if err == nil || !strings.Contains(out, "does not chain") || !strings.Contains(out, "signature intact, signer not trusted") {
		t.Fatalf("verify with foreign CA: %v\n%s", err, out)
	}
}

func TestReportSignBadKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	runT(t, "", "keys", "init", a)
	runT(t, "", "keys", "init", b)
	in := filepath.Join(dir, "r.pdf")
	reportPDF(t, in)
	out := filepath.Join(dir, "out.pdf")
	missing := filepath.Join(a, "missing-key.pem")
	for _, tc := range []struct {
		name, key, want string
	}{
		{"missing key", missing, missing},
		{"mismatched key", filepath.Join(b, "signer-key.pem"), "does not match"},
	} {
		_, _, err := runT(t, "", "report", "sign", in, "-o", out, "--cert", filepath.Join(a, "signer.pem"), "--key", tc.key)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to mention %q", tc.name, err, tc.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: output file exists after failure", tc.name)
		}
	}
	if _, _, err := runT(t, "", "report", "verify"); exitCodeTo(err, &bytes.Buffer{}) != 2 {
		t.Errorf("verify without file: %v, want usage error", err)
	}
}
