package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/varde/varde/reports/sign"
)

// TestReportExtendToBLTA signs with a TSA, extends to B-LT (CRL from the CA's distribution point)
// and B-LTA, and reads the JSON validation report. The TSA and CRL server run in this process and
// stamp the real time: pkcs7 signs the token's CMS with the real clock anyway.
func TestReportExtendToBLTA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var crl []byte
	crlSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(crl) }))
	defer crlSrv.Close()
	keys := filepath.Join(dir, "keys")
	if out, _, err := runT(t, "", "keys", "init", keys, "--crl-url", crlSrv.URL+"/ca.crl"); err != nil {
		t.Fatalf("keys init: %v\n%s", err, out)
	}
	caKey, err := sign.LoadPEM(filepath.Join(keys, "ca.pem"), filepath.Join(keys+"-ca", "ca-key.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	crl, err = x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour)}, caKey.Cert, caKey.Key)
	if err != nil {
		t.Fatal(err)
	}
	tsaURL, tsaPEM := testTSA(t, dir)

	in, signed := filepath.Join(dir, "r.pdf"), filepath.Join(dir, "signed.pdf")
	reportPDF(t, in)
	if out, _, err := runT(t, "", "report", "sign", in, "-o", signed, "--tsa", tsaURL,
		"--cert", filepath.Join(keys, "signer.pem"), "--key", filepath.Join(keys, "signer-key.pem")); err != nil {
		t.Fatalf("sign: %v\n%s", err, out)
	}
	ca := filepath.Join(keys, "ca.pem")
	out, _, err := runT(t, "", "report", "verify", signed, "--ca", ca, "--tsa-ca", tsaPEM)
	if err != nil || !strings.Contains(out, "result:        valid, B-T") {
		t.Fatalf("verify B-T: %v\n%s", err, out)
	}
	if out, _, err := runT(t, "", "report", "extend", signed, "--lt", "--lta", "--tsa", tsaURL); err != nil {
		t.Fatalf("extend: %v\n%s", err, out)
	}
	out, _, err = runT(t, "", "report", "verify", signed, "--ca", ca, "--tsa-ca", tsaPEM, "--json")
	if err != nil {
		t.Fatalf("verify B-LTA: %v\n%s", err, out)
	}
	var rep sign.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if !rep.Valid() || rep.Level() != sign.LevelBLTA || len(rep.Revisions) != 4 {
		t.Fatalf("B-LTA:\n%s", out)
	}
	t.Logf("varde report verify --json:\n%s", out)
	// The same anchors from trust directories named in the environment.
	trust, tsaTrust := filepath.Join(dir, "trust"), filepath.Join(dir, "tsa-trust")
	for d, src := range map[string]string{trust: ca, tsaTrust: tsaPEM} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "anchor.pem"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var envOut, envErr bytes.Buffer
	err = runEnv(context.Background(), []string{"report", "verify", signed}, &envOut, &envErr,
		func(k string) string {
			return map[string]string{"VARDE_TRUST_DIR": trust, "VARDE_TSA_TRUST_DIR": tsaTrust}[k]
		})
	if err != nil || !strings.Contains(envOut.String(), "result:        valid, B-LTA") {
		t.Fatalf("verify with trust directories from the environment: %v\n%s%s", err, envOut.String(), envErr.String())
	}
	// Without the TSA anchor nothing above B-B is proven, and a document time-stamp from an
	// untrusted TSA makes the file not valid.
	out, _, err = runT(t, "", "report", "verify", signed, "--ca", ca)
	if err == nil || exitCodeTo(err, &bytes.Buffer{}) != 1 || !strings.Contains(out, "level:       B-B") {
		t.Fatalf("verify without --tsa-ca: %v\n%s", err, out)
	}
}

// testTSA runs an RFC 3161 TSA with a self-signed timeStamping certificate, written to tsa.pem.
func testTSA(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "varde test TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	path := filepath.Join(dir, "tsa.pem")
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Time: time.Now(),
			Nonce: req.Nonce, Policy: []int{1, 2, 3, 4, 1}, AddTSACertificate: true}
		resp, err := ts.CreateResponseWithOpts(cert, key, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, path
}
