package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/goregular"
)

const norwegian = "Datatilsynet: personopplysninger blir i Norge — æøå ÆØÅ"

var fixedNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

// testPDF makes a small two-page report with Norwegian text in an embedded UTF-8 font.
func testPDF(t testing.TB) []byte {
	t.Helper()
	p := fpdf.New("P", "mm", "A4", "")
	p.SetCreationDate(fixedNow)
	p.SetModificationDate(fixedNow)
	p.AddUTF8FontFromBytes("go", "", goregular.TTF)
	for i := 0; i < 2; i++ {
		p.AddPage()
		p.SetFont("go", "", 14)
		p.Cell(0, 10, norwegian)
	}
	var b bytes.Buffer
	if err := p.Output(&b); err != nil {
		t.Fatalf("fpdf: %v", err)
	}
	return b.Bytes()
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (Makefile APT_PACKAGES must install it)", name)
		}
		t.Skipf("%s not installed", name)
	}
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

type keys struct {
	dir    string
	signer *Signer
	roots  *x509.CertPool
}

// cfg trusts the keys' CA and verifies at the pinned clock.
func (k keys) cfg() VerifyConfig { return VerifyConfig{Roots: k.roots, Now: clock} }

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func dump(r *Report) string {
	b, _ := json.MarshalIndent(r, "", "  ")
	return string(b)
}

func newKeys(t testing.TB, cfg KeysConfig) keys {
	t.Helper()
	dir := t.TempDir()
	// Documents are signed at the pinned clock, and Verify checks the chain at that time; pdfsig with an NSS
	// database checks it at the real time. So the certificates are issued at the earlier of the two and stay
	// valid a year past the later: the test passes on any day, before or after the pinned one.
	from, to := fixedNow, time.Now()
	if to.Before(from) {
		from, to = to, from
	}
	cfg.Now = func() time.Time { return from }
	cfg.Validity = to.Sub(from) + 365*24*time.Hour
	if _, err := InitKeys(context.Background(), dir, cfg); err != nil {
		t.Fatal(err)
	}
	s, err := LoadPEM(filepath.Join(dir, SignerFile), filepath.Join(dir, SignerKeyFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := LoadCertPool(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	return keys{dir: dir, signer: s, roots: roots}
}

func signTo(t *testing.T, k keys, opts Options) string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(in, testPDF(t), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(filepath.Dir(in), "signed.pdf")
	if opts.Now == nil {
		opts.Now = clock
	}
	if err := SignFile(context.Background(), in, out, k.signer, opts); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSignedReportVerifiesWithStandardTools(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rsa  bool
	}{{"ecdsa", false}, {"rsa", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			needTool(t, "pdfsig")
			needTool(t, "qpdf")
			needTool(t, "certutil")
			needTool(t, "pdftotext")
			k := newKeys(t, KeysConfig{RSA: tc.rsa})
			out := signTo(t, k, Options{Reason: "Kvartalsrapport æøå", Location: "Oslo"})

			rep, err := VerifyFile(context.Background(), out, k.cfg())
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Signatures[0]
			if !rep.Valid() || r.Status != StatusValid || r.Level != LevelBB || !r.DigestValid || !r.SignatureValid {
				t.Fatalf("Verify: %s", dump(rep))
			}
			if r.Fingerprint != k.signer.Fingerprint || !r.ClaimedTime.Equal(fixedNow) || r.ProvenTime != nil || !r.ValidatedAt.Equal(fixedNow) {
				t.Fatalf("Verify: %s, want fingerprint %s, validated at %s", dump(rep), k.signer.Fingerprint, fixedNow)
			}

			sig := runTool(t, "pdfsig", out)
			for _, want := range []string{"Signature is Valid.", "Total document signed", "ETSI.CAdES.detached"} {
				if !strings.Contains(sig, want) {
					t.Errorf("pdfsig output lacks %q:\n%s", want, sig)
				}
			}
			nss := t.TempDir()
			runTool(t, "certutil", "-N", "-d", "sql:"+nss, "--empty-password")
			runTool(t, "certutil", "-A", "-d", "sql:"+nss, "-n", "ca", "-t", "CT,C,C", "-i", filepath.Join(k.dir, CAFile))
			sig = runTool(t, "pdfsig", "-nssdir", "sql:"+nss, out)
			if !strings.Contains(sig, "Certificate is Trusted.") || !strings.Contains(sig, "Signature is Valid.") {
				t.Errorf("pdfsig with CA:\n%s", sig)
			}
			runTool(t, "qpdf", "--check", out)
			text := runTool(t, "pdftotext", out, "-")
			if !strings.Contains(text, norwegian) {
				t.Errorf("pdftotext lost the Norwegian text:\n%s", text)
			}
		})
	}
}

func TestTamperedReportFails(t *testing.T) {
	t.Parallel()
	needTool(t, "pdfsig")
	k := newKeys(t, KeysConfig{})
	out := signTo(t, k, Options{})
	pdf, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(pdf, []byte("/MediaBox"))
	if i < 0 {
		t.Fatal("no /MediaBox in test PDF")
	}
	bad := bytes.Clone(pdf)
	bad[i+1] = 'N' // /MediaBox -> /NediaBox: one byte inside the signed range
	tampered := filepath.Join(t.TempDir(), "tampered.pdf")
	if err := os.WriteFile(tampered, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if s := runTool(t, "pdfsig", tampered); !strings.Contains(s, "Digest Mismatch.") {
		t.Errorf("pdfsig on tampered file:\n%s", s)
	}
	r, err := Verify(bad, k.cfg())
	if err != nil {
		t.Fatal(err)
	}
	if r.Valid() || r.Signatures[0].DigestValid || !strings.Contains(strings.Join(r.Signatures[0].Problems, ";"), "digest mismatch") {
		t.Fatalf("tampered: %s", dump(r))
	}

	appended := append(bytes.Clone(pdf), []byte("\n% appended after signing\n")...)
	r, err = Verify(appended, k.cfg())
	if err != nil {
		t.Fatal(err)
	}
	if r.Valid() || !r.Signatures[0].DigestValid || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "modified after signing") {
		t.Fatalf("appended: %s", dump(r))
	}

	// A different CA does not make the chain trusted.
	other := newKeys(t, KeysConfig{})
	r, err = Verify(pdf, other.cfg())
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Signatures[0]; r.Valid() || s.Status != StatusUntrusted || !s.DigestValid || !s.SignatureValid {
		t.Fatalf("foreign CA: %s", dump(r))
	}
}

// tsaServer is an RFC 3161 time-stamp authority in the test process.
func tsaServer(t *testing.T) (*httptest.Server, *x509.Certificate) {
	t.Helper()
	return tsaServerAt(t, fixedNow.Add(time.Second))
}

// tsaServerAt is a TSA whose tokens say stamped.
func tsaServerAt(t *testing.T, stamped time.Time) (*httptest.Server, *x509.Certificate) {
	t.Helper()
	return tsaServerIssued(t, stamped, nil, nil, "")
}

// tsaServerIssued is tsaServerAt with its certificate issued by ca (self-signed when ca is nil), as a
// real TSA's is, naming crlURL as its CRL distribution point when given. The certificate returned is the
// trust anchor: ca, or the self-signed TSA certificate.
func tsaServerIssued(t *testing.T, stamped time.Time, ca *x509.Certificate, caKey crypto.Signer, crlURL string) (*httptest.Server, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	// The token's time is the pinned clock, but pkcs7 stamps the token's CMS signingTime with the real clock
	// and has no hook to change it, and parsing the response checks that time against this certificate. So
	// the certificate is valid around both: the pinned day and the day the test runs.
	notBefore, notAfter := fixedNow.Add(-time.Hour), fixedNow.Add(24*time.Hour)
	if now := time.Now(); now.Before(notBefore) {
		notBefore = now.Add(-time.Hour)
	} else if now.After(notAfter) {
		notAfter = now.Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(7),
		Subject:         pkix.Name{CommonName: "test TSA"},
		NotBefore:       notBefore,
		NotAfter:        notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
	}
	if crlURL != "" {
		tmpl.CRLDistributionPoints = []string{crlURL}
	}
	parent, parentKey := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, parentKey = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	anchor := cert
	if ca != nil {
		anchor = ca
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{
			HashAlgorithm:     req.HashAlgorithm,
			HashedMessage:     req.HashedMessage,
			Time:              stamped,
			Nonce:             req.Nonce,
			Policy:            asn1.ObjectIdentifier{1, 2, 3, 4, 1},
			Ordering:          false,
			Qualified:         false,
			AddTSACertificate: req.Certificates,
		}
		resp, err := ts.CreateResponseWithOpts(cert, key, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv, anchor
}

func TestSignatureTimestamp(t *testing.T) {
	t.Parallel()
	srv, tsaCert := tsaServer(t)
	k := newKeys(t, KeysConfig{})
	out := signTo(t, k, Options{TSAURL: srv.URL, HTTPClient: srv.Client()})
	cfg := k.cfg()
	cfg.TSARoots = pool(tsaCert)
	rep, err := VerifyFile(context.Background(), out, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Signatures[0]
	if !rep.Valid() || r.Timestamp.Status != TimestampTrusted || !r.ProvenTime.Equal(fixedNow.Add(time.Second)) || r.Level != LevelBT {
		t.Fatalf("timestamped: %s", dump(rep))
	}
	// The same token from a TSA outside the trust list proves nothing: B-B, time not proven.
	rep, err = VerifyFile(context.Background(), out, k.cfg())
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Signatures[0]; !rep.Valid() || r.Timestamp.Status != TimestampUntrusted || r.ProvenTime != nil || r.Level != LevelBB {
		t.Fatalf("untrusted TSA: %s", dump(rep))
	}
	if _, err := exec.LookPath("pdfsig"); err == nil {
		if s := runTool(t, "pdfsig", out); !strings.Contains(s, "Signature is Valid.") {
			t.Errorf("pdfsig on timestamped file:\n%s", s)
		}
	}

	// A TSA that fails leaves no output file.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pdf")
	os.WriteFile(in, testPDF(t), 0o644)
	err = SignFile(context.Background(), in, filepath.Join(dir, "out.pdf"), k.signer, Options{TSAURL: bad.URL})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("failing TSA: err %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left behind after failure: %v", entries)
	}
}
