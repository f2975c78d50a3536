package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// pki is a CA, a signer and the CA's CRL/OCSP responder, all in the test process.
type pki struct {
	ca     *x509.Certificate
	caKey  crypto.Signer
	signer *Signer
	srv    *httptest.Server
	mu     sync.Mutex
	// revokedAt, when set, is when the responder says the signer was revoked.
	revokedAt time.Time
	// now dates the CRL and OCSP responses: the pinned clock unless a test built on the real clock sets it.
	now func() time.Time
}

// newPKI issues certificates valid from the earlier to a year past the later of the pinned and the
// real day, as newKeys does, so pdfsig (which checks at the real time) and Verify (at the pinned
// clock) both accept them on any day. tmpl, when given, changes the signer certificate.
func newPKI(t *testing.T, leaf func(*x509.Certificate)) *pki {
	t.Helper()
	p := &pki{now: clock}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	from, to := fixedNow, time.Now()
	if to.Before(from) {
		from, to = to, from
	}
	cfg := KeysConfig{Now: func() time.Time { return from }, Validity: to.Sub(from) + 365*24*time.Hour,
		CRLURL: p.srv.URL + "/ca.crl", OCSPURL: p.srv.URL + "/ocsp"}
	var err error
	if p.ca, p.caKey, err = NewCA(cfg); err != nil {
		t.Fatal(err)
	}
	if leaf == nil {
		if p.signer, err = NewLeaf(p.ca, p.caKey, cfg); err != nil {
			t.Fatal(err)
		}
	} else {
		key, _ := newKey(cfg)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "test signer"},
			NotBefore: from.Add(-time.Hour), NotAfter: to.Add(365 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, CRLDistributionPoints: []string{cfg.CRLURL}, OCSPServer: []string{cfg.OCSPURL}}
		leaf(tmpl)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		if p.signer, err = NewSigner(cert, key, []*x509.Certificate{p.ca}); err != nil {
			t.Fatal(err)
		}
	}
	mux.HandleFunc("/ca.crl", func(w http.ResponseWriter, r *http.Request) {
		w.Write(p.crl(t))
	})
	mux.HandleFunc("/ocsp", func(w http.ResponseWriter, r *http.Request) {
		w.Write(p.ocsp(t))
	})
	return p
}

func (p *pki) revoke(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revokedAt = at
}

func (p *pki) crl(t *testing.T) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: p.now().Add(-2 * time.Hour), NextUpdate: p.now().Add(24 * time.Hour)}
	if !p.revokedAt.IsZero() {
		tmpl.RevokedCertificateEntries = []x509.RevocationListEntry{{SerialNumber: p.signer.Cert.SerialNumber, RevocationTime: p.revokedAt}}
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, p.ca, p.caKey)
	if err != nil {
		t.Error(err)
	}
	return der
}

func (p *pki) ocsp(t *testing.T) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: p.signer.Cert.SerialNumber, ThisUpdate: p.now().Add(-time.Hour), NextUpdate: p.now().Add(24 * time.Hour)}
	if !p.revokedAt.IsZero() {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, p.revokedAt, ocsp.KeyCompromise
	}
	der, err := ocsp.CreateResponse(p.ca, p.ca, tmpl, p.caKey)
	if err != nil {
		t.Error(err)
	}
	return der
}

func (p *pki) cfg(tsa ...*x509.Certificate) VerifyConfig {
	c := VerifyConfig{Roots: pool(p.ca), Now: clock}
	if len(tsa) > 0 {
		c.TSARoots = pool(tsa...)
	}
	return c
}

func sign1(t *testing.T, pdf []byte, s *Signer, opts Options) []byte {
	t.Helper()
	if opts.Now == nil {
		opts.Now = clock
	}
	out, err := Sign(context.Background(), pdf, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func verify(t *testing.T, pdf []byte, cfg VerifyConfig) *Report {
	t.Helper()
	r, err := Verify(pdf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func problems(r *Report) string {
	all := append([]string(nil), r.Problems...)
	for _, s := range r.Signatures {
		all = append(all, s.Problems...)
	}
	return strings.Join(all, "; ")
}

func TestNoTrustAnchorsIsNotTrusted(t *testing.T) {
	t.Parallel()
	p := newPKI(t, nil)
	signed := sign1(t, testPDF(t), p.signer, Options{})
	r := verify(t, signed, VerifyConfig{Now: clock})
	if r.Valid() || r.Signatures[0].Status != StatusUntrusted || !r.Signatures[0].DigestValid || r.Level() != LevelNone {
		t.Fatalf("no anchors: %s", dump(r))
	}
	if !strings.Contains(problems(r), "no trust anchors") {
		t.Fatalf("no anchors: %s", problems(r))
	}
}

// TestForgedTimestampOnExpiredSigner: the signer certificate expired before the verification time.
// Someone without the signer's key writes a token from their own TSA, dated inside the
// certificate's validity, into the /Contents padding. It must not count.
func TestForgedTimestampOnExpiredSigner(t *testing.T) {
	t.Parallel()
	year := 365 * 24 * time.Hour
	p := newPKI(t, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = fixedNow.Add(-2*year), fixedNow.Add(-year)
	})
	// The CA must outlive the signer so only the signer's expiry matters.
	signed := sign1(t, testPDF(t), p.signer, Options{Now: func() time.Time { return fixedNow.Add(-18 * 30 * 24 * time.Hour) }})
	r := verify(t, signed, p.cfg())
	if r.Valid() || !strings.Contains(problems(r), "expired") {
		t.Fatalf("expired signer without time-stamp: %s", dump(r))
	}

	forgedAt := fixedNow.Add(-18 * 30 * 24 * time.Hour)
	evil, evilCert := tsaServerAt(t, forgedAt)
	forged := withForgedToken(t, signed, evil)
	r = verify(t, forged, p.cfg())
	s := r.Signatures[0]
	if r.Valid() || s.Timestamp.Status != TimestampUntrusted || s.ProvenTime != nil || !strings.Contains(problems(r), "expired") {
		t.Fatalf("forged token accepted: %s", dump(r))
	}
	// Even listing the forger's TSA as trusted does not help when its certificate lacks nothing but
	// the time: the token is then trusted, and only then is its time used.
	r = verify(t, forged, p.cfg(evilCert))
	if s := r.Signatures[0]; s.Timestamp.Status != TimestampTrusted || !s.ProvenTime.Equal(forgedAt) {
		t.Fatalf("token from a trusted TSA not used: %s", dump(r))
	}
}

// withForgedToken adds a token from tsa over the signature value as an unsigned attribute,
// re-encoding the CMS in the /Contents padding: no private key is needed for that.
func withForgedToken(t *testing.T, pdf []byte, tsa *httptest.Server) []byte {
	t.Helper()
	loc := reByteRange.FindAllSubmatchIndex(pdf, -1)[0]
	var br [4]int
	for i := range br {
		br[i] = atoi(t, string(pdf[loc[2+2*i]:loc[3+2*i]]))
	}
	h := pdf[br[1]+1 : br[2]-1]
	der := make([]byte, len(h)/2)
	hex.Decode(der, h)
	var ci contentInfo
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		t.Fatal(err)
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		t.Fatal(err)
	}
	token, err := fetchTimestamp(context.Background(), tsa.Client(), tsa.URL, sd.SignerInfos[0].Signature)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := asn1.Marshal(attribute{Type: oidTimeStampToken, Values: setOf(token)})
	sd.SignerInfos[0].UnsignedAttrs = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: a}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
	if 2*len(out) > len(h) {
		t.Fatalf("forged CMS %d bytes does not fit", len(out))
	}
	forged := bytes.Clone(pdf)
	hex.Encode(forged[br[1]+1:], out)
	return forged
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestSignerWithoutDigitalSignature(t *testing.T) {
	t.Parallel()
	p := newPKI(t, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment })
	r := verify(t, sign1(t, testPDF(t), p.signer, Options{}), p.cfg())
	if r.Valid() || r.Signatures[0].Status != StatusInvalid || !strings.Contains(problems(r), "neither digitalSignature nor nonRepudiation") {
		t.Fatalf("key encipherment only: %s", dump(r))
	}
}

func TestRevokedSigner(t *testing.T) {
	t.Parallel()
	p := newPKI(t, nil)
	signed := sign1(t, testPDF(t), p.signer, Options{})
	p.revoke(fixedNow.Add(-time.Hour))

	// A CRL given by the verifier.
	crl, err := x509.ParseRevocationList(p.crl(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.cfg()
	cfg.CRLs = []*x509.RevocationList{crl}
	r := verify(t, signed, cfg)
	if r.Valid() || r.Signatures[0].Revocation != RevocationRevoked || !strings.Contains(problems(r), "revoked") {
		t.Fatalf("revoked by CRL: %s", dump(r))
	}
	// An OCSP response, fetched from the responder into the DSS by extend --lt.
	ext, err := Extend(context.Background(), signed, ExtendConfig{LT: true, HTTPClient: p.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	r = verify(t, ext, p.cfg())
	if r.Valid() || r.Signatures[0].Revocation != RevocationRevoked || !strings.Contains(problems(r), "(OCSP)") {
		t.Fatalf("revoked by OCSP in the DSS: %s", dump(r))
	}
	if r.Revisions[2].Adds != "DSS" {
		t.Fatalf("revision 3 adds %q, want DSS", r.Revisions[2].Adds)
	}
}

func TestSecondSignature(t *testing.T) {
	t.Parallel()
	p, q := newPKI(t, nil), newPKI(t, nil)
	one := sign1(t, testPDF(t), p.signer, Options{})
	two := sign1(t, one, q.signer, Options{})
	cfg := p.cfg()
	cfg.Roots.AddCert(q.ca)
	r := verify(t, two, cfg)
	if !r.Valid() || len(r.Signatures) != 2 || r.Signatures[0].Revision != 2 || r.Signatures[1].Revision != 3 ||
		r.Signatures[1].Field != "varde-signature-2" || r.Revisions[2].Adds != "signature" {
		t.Fatalf("two signatures: %s", dump(r))
	}
	if r.Signatures[0].Fingerprint != p.signer.Fingerprint || r.Signatures[1].Fingerprint != q.signer.Fingerprint {
		t.Fatalf("signers: %s", dump(r))
	}
}

// TestLongTermLevels raises a B-T report to B-LT and B-LTA, checks the levels and that a byte
// changed in any revision is caught, and has pdfsig, qpdf and openssl agree.
func TestLongTermLevels(t *testing.T) {
	t.Parallel()
	p := newPKI(t, nil)
	tsa, tsaCert := tsaServer(t)
	cfg := p.cfg(tsaCert)
	bt := sign1(t, testPDF(t), p.signer, Options{TSAURL: tsa.URL, HTTPClient: tsa.Client()})
	if r := verify(t, bt, cfg); !r.Valid() || r.Level() != LevelBT {
		t.Fatalf("B-T: %s", dump(r))
	}
	lt, err := Extend(context.Background(), bt, ExtendConfig{LT: true, HTTPClient: p.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if r := verify(t, lt, cfg); !r.Valid() || r.Level() != LevelBLT || r.Signatures[0].RevocationSource != "DSS" {
		t.Fatalf("B-LT: %s", dump(r))
	}
	lta, err := Extend(context.Background(), lt, ExtendConfig{LTA: true, TSAURL: tsa.URL, HTTPClient: tsa.Client()})
	if err != nil {
		t.Fatal(err)
	}
	r := verify(t, lta, cfg)
	if !r.Valid() || r.Level() != LevelBLTA || len(r.Signatures) != 2 || r.Signatures[1].Kind != KindDocTimestamp ||
		r.Signatures[1].Revision != 4 || r.Revisions[3].Adds != "document time-stamp" {
		t.Fatalf("B-LTA: %s", dump(r))
	}
	t.Logf("B-LTA report:\n%s", dump(r))
	// Without the TSA anchor the document time-stamp is untrusted and nothing above B-B holds.
	if r := verify(t, lta, p.cfg()); r.Valid() || r.Level() != LevelBB {
		t.Fatalf("B-LTA without TSA anchor: %s", dump(r))
	}

	// A byte changed anywhere in any revision is rejected.
	for i, rv := range r.Revisions {
		start := 0
		if i > 0 {
			start = int(r.Revisions[i-1].End)
		}
		for _, at := range []int{start + (int(rv.End)-start)/3, start + (int(rv.End)-start)/2, int(rv.End) - 20} {
			bad := bytes.Clone(lta)
			if bad[at] == '0' {
				bad[at] = '1'
			} else {
				bad[at] = '0'
			}
			if rr, err := Verify(bad, cfg); err == nil && rr.Valid() {
				t.Errorf("byte %d (revision %d) changed from %q: still valid", at, i+1, lta[at])
			}
		}
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "lta.pdf")
	os.WriteFile(path, lta, 0o644)
	needTool(t, "qpdf")
	runTool(t, "qpdf", "--check", path)
	needTool(t, "pdfsig")
	out := runTool(t, "pdfsig", path)
	want := 2
	// No poppler release (through 26.07) validates ETSI.RFC3161 document time-stamps: its
	// CryptoSign::signatureTypeFromString knows only the CMS subfilters. 22.12 says "Unable to validate
	// this type of signature", 25.03 "Signature has not yet been verified." with "Signature Type:
	// unknown". openssl ts checks the document time-stamp below, and pdfcpu in TestPdfcpuValidatesLongTermLevels.
	if strings.Contains(out, "Unable to validate this type of signature") ||
		strings.Contains(out, "Signature has not yet been verified.") {
		t.Log("pdfsig cannot validate the document time-stamp; checking the CMS signature only")
		want = 1
	}
	if strings.Count(out, "Signature is Valid.") != want || !strings.Contains(out, "varde-document-time-stamp") {
		t.Errorf("pdfsig on B-LTA, want %d signatures valid:\n%s", want, out)
	}
	t.Logf("pdfsig:\n%s", out)
	needTool(t, "openssl")
	checkOpenSSL(t, dir, lta, p, tsaCert)
}

// checkOpenSSL has OpenSSL verify the first signature's CMS over its byte range, its signature
// time-stamp over the signature value, and the document time-stamp over its byte range.
func checkOpenSSL(t *testing.T, dir string, pdf []byte, p *pki, tsaCert *x509.Certificate) {
	t.Helper()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pemOf := func(c *x509.Certificate) []byte {
		return []byte("-----BEGIN CERTIFICATE-----\n" + wrap64(c.Raw) + "-----END CERTIFICATE-----\n")
	}
	caFile, tsaFile := write("ca.pem", pemOf(p.ca)), write("tsa.pem", pemOf(tsaCert))
	locs := reByteRange.FindAllSubmatchIndex(pdf, -1)
	if len(locs) != 2 {
		t.Fatalf("want 2 signatures, found %d", len(locs))
	}
	for i, loc := range locs {
		var br [4]int
		for j := range br {
			br[j] = atoi(t, string(pdf[loc[2+2*j]:loc[3+2*j]]))
		}
		signed := append(bytes.Clone(pdf[:br[1]]), pdf[br[2]:br[2]+br[3]]...)
		h := pdf[br[1]+1 : br[2]-1]
		der := make([]byte, len(h)/2)
		hex.Decode(der, h)
		var raw asn1.RawValue
		asn1.Unmarshal(der, &raw)
		der = raw.FullBytes
		data := write("signed.bin", signed)
		if i == 0 {
			cms := write("sig.der", der)
			out := runTool(t, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", cms, "-content", data,
				"-CAfile", caFile, "-purpose", "any", "-out", os.DevNull)
			if !strings.Contains(out, "Verification successful") {
				t.Errorf("openssl cms -verify:\n%s", out)
			}
			var ci contentInfo
			asn1.Unmarshal(der, &ci)
			var sd signedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
				t.Fatal(err)
			}
			var attr attribute
			if _, err := asn1.Unmarshal(sd.SignerInfos[0].UnsignedAttrs.Bytes, &attr); err != nil {
				t.Fatal(err)
			}
			var tok asn1.RawValue
			asn1.Unmarshal(attr.Values.Bytes, &tok)
			out = runTool(t, "openssl", "ts", "-verify", "-token_in", "-in", write("sigts.der", tok.FullBytes),
				"-data", write("sigvalue.bin", sd.SignerInfos[0].Signature), "-CAfile", tsaFile)
			if !strings.Contains(out, "Verification: OK") {
				t.Errorf("openssl ts -verify (signature time-stamp):\n%s", out)
			}
			continue
		}
		out := runTool(t, "openssl", "ts", "-verify", "-token_in", "-in", write("docts.der", der), "-data", data, "-CAfile", tsaFile)
		if !strings.Contains(out, "Verification: OK") {
			t.Errorf("openssl ts -verify (document time-stamp):\n%s", out)
		}
	}
}

func wrap64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 64 {
		out.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	return out.String() + s + "\n"
}
