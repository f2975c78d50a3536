package sign

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

func TestInitKeysFiles(t *testing.T) {
	t.Parallel()
	k := newKeys(t, KeysConfig{})
	if _, err := os.Stat(filepath.Join(k.dir, CAKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("CA key in the signing key directory: %v", err)
	}
	for _, p := range []string{filepath.Join(k.dir, CAFile), filepath.Join(k.dir+"-ca", CAKeyFile), filepath.Join(k.dir, SignerFile), filepath.Join(k.dir, SignerKeyFile)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", p, fi.Mode().Perm())
		}
	}
	if len(k.signer.Chain) != 1 || !k.signer.Chain[0].IsCA || len(k.signer.Fingerprint) != 64 {
		t.Fatalf("signer %+v", k.signer)
	}
	if _, err := InitKeys(context.Background(), k.dir, KeysConfig{}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second InitKeys: %v", err)
	}
}

func TestInitKeysEncryptsCAKey(t *testing.T) {
	t.Parallel()
	dir, caDir := t.TempDir(), filepath.Join(t.TempDir(), "offline-ca")
	if _, err := InitKeys(context.Background(), dir, KeysConfig{CADir: dir}); err == nil || !strings.Contains(err.Error(), "is the signing key directory") {
		t.Fatalf("CA dir = signing dir: %v", err)
	}
	if _, err := InitKeys(context.Background(), dir, KeysConfig{CADir: caDir, CAKeyPassword: []byte("fjord")}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(caDir, CAKeyFile))
	if err != nil || !strings.Contains(string(b), "ENCRYPTED PRIVATE KEY") {
		t.Fatalf("CA key: %v\n%s", err, b)
	}
	if _, err := parsePEMKey(b, []byte("wrong")); err == nil {
		t.Fatal("CA key opened with the wrong passphrase")
	}
	if _, err := parsePEMKey(b, []byte("fjord")); err != nil {
		t.Fatalf("CA key with its passphrase: %v", err)
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		if out, err := exec.Command("openssl", "pkey", "-in", filepath.Join(caDir, CAKeyFile), "-passin", "pass:fjord", "-noout").CombinedOutput(); err != nil {
			t.Fatalf("openssl pkey cannot read the encrypted CA key: %v\n%s", err, out)
		}
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	t.Parallel()
	a := newKeys(t, KeysConfig{})
	b := newKeys(t, KeysConfig{})
	cert := filepath.Join(a.dir, SignerFile)

	missing := filepath.Join(a.dir, "nope-key.pem")
	_, err := LoadPEM(cert, missing, nil)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing key: %v", err)
	}
	_, err = LoadPEM(cert, filepath.Join(b.dir, SignerKeyFile), nil)
	if err == nil || !strings.Contains(err.Error(), "does not match") || !strings.Contains(err.Error(), cert) {
		t.Errorf("mismatched key: %v", err)
	}
	notPEM := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(notPEM, []byte("junk"), 0o600)
	if _, err = LoadPEM(notPEM, filepath.Join(a.dir, SignerKeyFile), nil); err == nil || !strings.Contains(err.Error(), notPEM) {
		t.Errorf("junk cert: %v", err)
	}

	// PKCS#12, right and wrong password.
	p12, err := pkcs12.Modern.Encode(a.signer.Key, a.signer.Cert, a.signer.Chain, "hemmelig")
	if err != nil {
		t.Fatal(err)
	}
	p12Path := filepath.Join(t.TempDir(), "signer.p12")
	os.WriteFile(p12Path, p12, 0o600)
	s, err := Load(p12Path, "", []byte("hemmelig"))
	if err != nil || s.Fingerprint != a.signer.Fingerprint || len(s.Chain) != 1 {
		t.Fatalf("PKCS#12 load: %v %+v", err, s)
	}
	_, err = LoadPKCS12(p12Path, "feil")
	if err == nil || !strings.Contains(err.Error(), "wrong password") || !strings.Contains(err.Error(), p12Path) {
		t.Errorf("PKCS#12 wrong password: %v", err)
	}

	// Encrypted PKCS#8 as openssl writes it.
	needTool(t, "openssl")
	enc := filepath.Join(t.TempDir(), "enc-key.pem")
	out, err := exec.Command("openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", filepath.Join(a.dir, SignerKeyFile),
		"-out", enc, "-passout", "pass:hemmelig").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	s, err = LoadPEM(cert, enc, []byte("hemmelig"))
	if err != nil || s.Fingerprint != a.signer.Fingerprint {
		t.Fatalf("encrypted PKCS#8: %v", err)
	}
	_, err = LoadPEM(cert, enc, []byte("feil"))
	if err == nil || !strings.Contains(err.Error(), "wrong password") || !strings.Contains(err.Error(), enc) {
		t.Errorf("encrypted PKCS#8 wrong password: %v", err)
	}
	_, err = LoadPEM(cert, enc, nil)
	if err == nil || !strings.Contains(err.Error(), "no password") {
		t.Errorf("encrypted PKCS#8 no password: %v", err)
	}
}

func TestSignFileLeavesNothingOnError(t *testing.T) {
	t.Parallel()
	k := newKeys(t, KeysConfig{})
	dir := t.TempDir()
	in := filepath.Join(dir, "broken.pdf")
	os.WriteFile(in, []byte("%PDF-1.3\nnot really a pdf\n"), 0o644)
	err := SignFile(context.Background(), in, filepath.Join(dir, "out.pdf"), k.signer, Options{})
	if err == nil || !strings.Contains(err.Error(), in) {
		t.Fatalf("broken input: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("files left behind: %v", entries)
	}
}

func TestSignIsDeterministicApartFromSignature(t *testing.T) {
	t.Parallel()
	k := newKeys(t, KeysConfig{RSA: true})
	pdf := testPDF(t)
	a, err := Sign(context.Background(), pdf, k.signer, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Sign(context.Background(), pdf, k.signer, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	// RSA PKCS#1 v1.5 is deterministic and there is no signing-time attribute, so the
	// same input, key and clock give the same bytes.
	if string(a) != string(b) {
		t.Fatal("signing the same PDF twice with an RSA key gave different bytes")
	}
	if string(a[:len(pdf)]) != string(pdf) {
		t.Fatal("the incremental update changed the original bytes")
	}
}

func TestVerifyRejectsUnsignedAndTruncated(t *testing.T) {
	t.Parallel()
	pdf := testPDF(t)
	if _, err := Verify(pdf, VerifyConfig{}); err != ErrNoSignature {
		t.Fatalf("unsigned: %v, want ErrNoSignature", err)
	}
	k := newKeys(t, KeysConfig{})
	signed, err := Sign(context.Background(), pdf, k.signer, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Verify(signed[:len(signed)-100], VerifyConfig{Roots: k.roots, Now: clock})
	if err != nil || r.Valid() || !strings.Contains(strings.Join(r.Signatures[0].Problems, ";"), "ByteRange") {
		t.Fatalf("truncated: %v %+v", err, r)
	}
	if _, err := Sign(context.Background(), []byte("hello"), k.signer, Options{}); err == nil || !strings.Contains(err.Error(), "not a PDF") {
		t.Fatalf("not a PDF: %v", err)
	}
}
