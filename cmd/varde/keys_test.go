package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeysInitAndShow(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keys")
	out, _, err := runT(t, "", "keys", "init", dir, "--org", "Fjordhost AS")
	if err != nil {
		t.Fatal(err)
	}
	fp, _, _ := strings.Cut(out[strings.Index(out, "sha256 ")+7:], "\n")
	if !strings.Contains(out, "ca-key.pem, UNENCRYPTED") || !strings.Contains(out, "PKCS#12") {
		t.Fatalf("keys init output:\n%s", out)
	}
	for _, n := range []string{"ca.pem", "../keys-ca/ca-key.pem", "signer.pem", "signer-key.pem"} {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", n, err, fi)
		}
	}
	out, _, err = runT(t, "", "keys", "show", filepath.Join(dir, "signer.pem"), "--key", filepath.Join(dir, "signer-key.pem"))
	if err != nil || !strings.Contains(out, fp) || !strings.Contains(out, "Fjordhost AS") {
		t.Fatalf("keys show PEM: %v\n%s", err, out)
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl not installed (add it to APT_PACKAGES)")
		}
		t.Skip("openssl not installed")
	}
	p12 := filepath.Join(t.TempDir(), "signer.p12")
	if b, err := exec.Command("openssl", "pkcs12", "-export", "-in", filepath.Join(dir, "signer.pem"),
		"-inkey", filepath.Join(dir, "signer-key.pem"), "-passout", "pass:hemmelig", "-out", p12).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, b)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("hemmelig\n"), 0o600)
	out, _, err = runT(t, "", "keys", "show", p12, "--password-file", pw)
	if err != nil || !strings.Contains(out, fp) {
		t.Fatalf("keys show PKCS#12: %v\n%s", err, out)
	}
	os.WriteFile(pw, []byte("feil\n"), 0o600)
	_, _, err = runT(t, "", "keys", "show", p12, "--password-file", pw)
	if err == nil || !strings.Contains(err.Error(), "wrong password") || !strings.Contains(err.Error(), p12) {
		t.Fatalf("keys show wrong password: %v", err)
	}
}

// keys log makes the evidence log key once, with the key file private, and leaves an existing one alone.
func TestKeysLog(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keys")
	out, _, err := runT(t, "", "keys", "log", dir)
	if err != nil || !strings.Contains(out, "wrote "+filepath.Join(dir, "log.key")) {
		t.Fatalf("keys log: %v\n%s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "log.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log.key: %v %v", err, fi)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "log.key"))
	out, _, err = runT(t, "", "keys", "log", dir)
	after, _ := os.ReadFile(filepath.Join(dir, "log.key"))
	if err != nil || !strings.Contains(out, "left as it is") || !bytes.Equal(before, after) {
		t.Fatalf("keys log again: %v\n%s", err, out)
	}
}
