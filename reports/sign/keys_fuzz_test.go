package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzKeyFile feeds the key and certificate file readers (PEM signer with chain and key, PKCS#12, CA
// bundle) one file, with and without a password. None may panic, every error must name the file, and a
// signer that loads must sign with a key its certificate verifies.
func FuzzKeyFile(f *testing.F) {
	k := newKeys(f, KeysConfig{})
	// InitKeys keeps the CA key out of the signing key directory, in DIR-ca.
	for _, p := range []string{filepath.Join(k.dir, SignerFile), filepath.Join(k.dir, SignerKeyFile),
		filepath.Join(k.dir, CAFile), filepath.Join(filepath.Clean(k.dir)+"-ca", CAKeyFile)} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	signerPEM, _ := os.ReadFile(filepath.Join(k.dir, SignerFile))
	keyPEM, _ := os.ReadFile(filepath.Join(k.dir, SignerKeyFile))
	f.Add(append(append([]byte(nil), signerPEM...), keyPEM...), "")
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"), "pw")
	path := filepath.Join(f.TempDir(), "key.pem")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		named := func(what string, err error) {
			if err != nil && !strings.Contains(err.Error(), path) && !strings.Contains(err.Error(), "key.pem") {
				t.Fatalf("%s: error does not name the file: %v", what, err)
			}
		}
		s, err := LoadPEM(path, path, []byte(password))
		named("LoadPEM", err)
		if err == nil {
			checkSigner(t, s)
		}
		s, err = LoadPKCS12(path, password)
		named("LoadPKCS12", err)
		if err == nil {
			checkSigner(t, s)
		}
		_, err = LoadCertPool(path)
		named("LoadCertPool", err)
	})
}

func checkSigner(t *testing.T, s *Signer) {
	t.Helper()
	msg := []byte("varde")
	digest := sha256.Sum256(msg)
	var alg x509.SignatureAlgorithm
	var sig []byte
	var err error
	switch s.Cert.PublicKey.(type) {
	case *rsa.PublicKey:
		alg = x509.SHA256WithRSA
		sig, err = s.Key.Sign(rand.Reader, digest[:], crypto.SHA256)
	case *ecdsa.PublicKey:
		alg = x509.ECDSAWithSHA256
		sig, err = s.Key.Sign(rand.Reader, digest[:], crypto.SHA256)
	case ed25519.PublicKey:
		alg = x509.PureEd25519
		sig, err = s.Key.Sign(rand.Reader, msg, crypto.Hash(0))
	default:
		t.Fatalf("signer loaded with a %T certificate key", s.Cert.PublicKey)
	}
	if err != nil {
		t.Fatalf("loaded key does not sign: %v", err)
	}
	if err := s.Cert.CheckSignature(alg, msg, sig); err != nil {
		t.Fatalf("certificate does not verify its key's signature: %v", err)
	}
}

// FuzzVerifyCMS puts fuzzed DER into the /Contents of a signed report, so the PKCS#7/CMS parser, the
// signed-attribute checks and the time-stamp parser see hostile input directly rather than through hex
// in a 20 KiB PDF. Verify must not panic, errors must say something, and a valid result must have
// every part of validity.
func FuzzVerifyCMS(f *testing.F) {
	k := newKeys(f, KeysConfig{})
	signed, err := Sign(context.Background(), testPDF(f), k.signer, Options{Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	start := bytes.LastIndex(signed, []byte("/Contents <")) + len("/Contents <")
	end := start + bytes.IndexByte(signed[start:], '>')
	der := make([]byte, (end-start)/2)
	if _, err := hex.Decode(der, signed[start:end]); err != nil {
		f.Fatal(err)
	}
	seed := bytes.TrimRight(der, "\x00")
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80})
	f.Fuzz(func(t *testing.T, cms []byte) {
		if len(cms) > len(der) {
			cms = cms[:len(der)]
		}
		pdf := bytes.Clone(signed)
		slot := make([]byte, len(der))
		copy(slot, cms)
		hex.Encode(pdf[start:end], slot)
		r, err := Verify(pdf, k.cfg())
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		checkReport(t, r)
	})
}
