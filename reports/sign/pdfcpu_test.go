package sign

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// TestPdfcpuValidatesPAdESBB has pdfcpu, an independent implementation, check the signature
// with our CA trusted and the signer's CRL served on 127.0.0.1.
func TestPdfcpuValidatesPAdESBB(t *testing.T) {
	t.Parallel()
	var crl []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(crl)
	}))
	defer srv.Close()

	cfg := KeysConfig{Now: time.Now, CRLURL: srv.URL + "/ca.crl"}
	ca, caKey, err := NewCA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := NewLeaf(ca, caKey, cfg)
	if err != nil {
		t.Fatal(err)
	}
	crl, err = x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(24 * time.Hour),
	}, ca, caKey)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "signed.pdf")
	if err := os.WriteFile(in, testPDF(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SignFile(context.Background(), in, out, signer, Options{Now: time.Now}); err != nil {
		t.Fatal(err)
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	results := pdfcpuValidate(t, signed, ca)
	if len(results) != 1 {
		t.Fatalf("pdfcpu found %d signatures, want 1", len(results))
	}
	res := results[0]
	report := res.String()
	if res.Status != model.SignatureStatusValid {
		t.Fatalf("pdfcpu status %v, want valid:\n%s", res.Status, report)
	}
	if len(res.Details.Signers) != 1 || res.Details.Signers[0].PAdES != "B-B" {
		t.Fatalf("pdfcpu PAdES level not B-B:\n%s", report)
	}
	if !strings.Contains(report, "B-B") {
		t.Fatalf("report:\n%s", report)
	}
	t.Logf("pdfcpu:\n%s", report)
}

// pdfcpuMu serialises the tests that point pdfcpu's process-wide trusted-certificate directory at their
// own anchors.
var pdfcpuMu sync.Mutex

// pdfcpuValidate has pdfcpu validate every signature in pdf with anchors trusted and revocation fetched
// only from 127.0.0.1.
func pdfcpuValidate(t *testing.T, pdf []byte, anchors ...*x509.Certificate) []*model.SignatureValidationResult {
	t.Helper()
	pdfcpuMu.Lock()
	defer pdfcpuMu.Unlock()
	confDir := t.TempDir()
	if err := model.EnsureDefaultConfigAt(confDir, false); err != nil {
		t.Fatal(err)
	}
	for i, c := range anchors {
		p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		if err := os.WriteFile(filepath.Join(model.TrustedCertDir, fmt.Sprintf("anchor-%d.pem", i)), p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	model.MarkCertificateStoreChanged()
	conf := model.NewDefaultConfiguration()
	conf.PreferredCertRevocationChecker = model.CRL
	conf.AllowedRevocationHosts = []string{"127.0.0.1"}
	path := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := api.ValidateSignatures(path, true, conf)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestPdfcpuValidatesLongTermLevels has pdfcpu, an independent implementation, check a report at B-T,
// B-LT and B-LTA: the CMS signature valid with its chain and revocation status, its time-stamp present at
// the stamped time, and at B-LTA the document time-stamp valid with the TSA's chain and CRL. pdfcpu 0.15
// names no level above B-B (it never authenticates signature time-stamps; varde's own verifier and
// `openssl ts -verify` in TestLongTermLevels do), so this test holds it to what it does check. pdfcpu
// checks at the real time, so certificates, CRLs, OCSP answers and time-stamps here are made around the
// real clock.
func TestPdfcpuValidatesLongTermLevels(t *testing.T) {
	t.Parallel()
	p := newPKI(t, nil)
	p.now = time.Now
	tsaCA, tsaCAKey, err := NewCA(KeysConfig{Now: time.Now, Organization: "test TSA"})
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour)}, tsaCA, tsaCAKey)
	if err != nil {
		t.Fatal(err)
	}
	crlSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(crl) }))
	t.Cleanup(crlSrv.Close)
	stamped := time.Now().Truncate(time.Second)
	tsa, tsaAnchor := tsaServerIssued(t, stamped, tsaCA, tsaCAKey, crlSrv.URL+"/tsa.crl")
	bt := sign1(t, testPDF(t), p.signer, Options{Now: time.Now, TSAURL: tsa.URL, HTTPClient: tsa.Client()})
	lt, err := Extend(context.Background(), bt, ExtendConfig{LT: true, HTTPClient: p.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	lta, err := Extend(context.Background(), lt, ExtendConfig{LTA: true, TSAURL: tsa.URL, HTTPClient: tsa.Client()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		pdf  []byte
		sigs int
	}{{"B-T", bt, 1}, {"B-LT", lt, 1}, {"B-LTA", lta, 2}} {
		res := pdfcpuValidate(t, c.pdf, p.ca, tsaAnchor)
		var report strings.Builder
		for _, r := range res {
			report.WriteString(r.String())
		}
		if len(res) != c.sigs {
			t.Fatalf("%s: pdfcpu found %d signatures, want %d:\n%s", c.name, len(res), c.sigs, report.String())
		}
		for _, r := range res {
			if r.Status != model.SignatureStatusValid {
				t.Errorf("%s: pdfcpu says %v:\n%s", c.name, r.Status, report.String())
			}
			if r.Type == model.SigTypeDTS {
				continue
			}
			if len(r.Details.Signers) != 1 {
				t.Fatalf("%s: %d signers:\n%s", c.name, len(r.Details.Signers), report.String())
			}
			sg := r.Details.Signers[0]
			if sg.PAdES != "B-B" || !sg.HasTimestamp || !sg.Timestamp.Equal(stamped) {
				t.Errorf("%s: PAdES %q, time-stamp %v at %v (want B-B, stamped %v):\n%s", c.name, sg.PAdES, sg.HasTimestamp, sg.Timestamp, stamped, report.String())
			}
		}
		t.Logf("pdfcpu on %s:\n%s", c.name, report.String())
	}
}
