package sign

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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

	// pdfcpu reads trusted roots from its config dir; point it at a throwaway one.
	confDir := t.TempDir()
	if err := model.EnsureDefaultConfigAt(confDir, false); err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	if err := os.WriteFile(filepath.Join(model.TrustedCertDir, "varde-test-ca.pem"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	model.MarkCertificateStoreChanged()
	conf := model.NewDefaultConfiguration()
	conf.PreferredCertRevocationChecker = model.CRL
	conf.AllowedRevocationHosts = []string{"127.0.0.1"}

	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "signed.pdf")
	if err := os.WriteFile(in, testPDF(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SignFile(context.Background(), in, out, signer, Options{Now: time.Now}); err != nil {
		t.Fatal(err)
	}
	results, err := api.ValidateSignatures(out, true, conf)
	if err != nil {
		t.Fatal(err)
	}
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
