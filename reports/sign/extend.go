package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	dpkcs7 "github.com/digitorus/pkcs7"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/pkcs7"
	"golang.org/x/crypto/ocsp"

	"github.com/varde/varde"
)

// ExtendConfig says how a signed report is raised to B-LT or B-LTA.
type ExtendConfig struct {
	// LT adds a DSS with the certificates and revocation data of every signature (B-LT).
	LT bool
	// LTA adds a document time-stamp from TSAURL after the DSS (B-LTA).
	LTA    bool
	TSAURL string
	// CRLs and OCSPs are revocation data to add beside what the certificates' URLs give.
	CRLs  [][]byte
	OCSPs [][]byte
	// Fetch fetches CRLs and OCSP responses from the URLs in the certificates; default true.
	NoFetch    bool
	HTTPClient *http.Client
	Logger     *slog.Logger
}

func (c ExtendConfig) withDefaults() ExtendConfig {
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports settings that cannot work.
func (c ExtendConfig) Validate() error {
	if !c.LT && !c.LTA {
		return errors.New("extend: nothing to do (want LT and/or LTA)")
	}
	if c.LTA && c.TSAURL == "" {
		return errors.New("extend: a document time-stamp (LTA) needs a TSA URL")
	}
	return nil
}

// Extend adds a DSS (B-LT) and/or a document time-stamp (B-LTA) to a signed PDF, each in its own
// incremental update, so the signatures before stay intact.
func Extend(ctx context.Context, pdf []byte, cfg ExtendConfig) ([]byte, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var err error
	if cfg.LT {
		if pdf, err = addDSS(ctx, pdf, cfg); err != nil {
			return nil, fmt.Errorf("extend to B-LT: %w", err)
		}
	}
	if cfg.LTA {
		if pdf, err = addDocTimestamp(ctx, pdf, cfg); err != nil {
			return nil, fmt.Errorf("extend to B-LTA: %w", err)
		}
	}
	return pdf, nil
}

// ExtendFile extends the PDF at in and writes it to out (which may be in) atomically.
func ExtendFile(ctx context.Context, in, out string, cfg ExtendConfig) error {
	pdf, err := readLimited(in)
	if err != nil {
		return fmt.Errorf("extend: read input: %w", err)
	}
	ext, err := Extend(ctx, pdf, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return varde.WriteFileAtomic(out, ext, 0o644)
}

// signatureCerts collects the certificates of every CMS signature and time-stamp token in pdf.
func signatureCerts(pdf []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	seen := map[string]bool{}
	add := func(cs []*x509.Certificate) {
		for _, c := range cs {
			if !seen[string(c.Raw)] {
				seen[string(c.Raw)] = true
				out = append(out, c)
			}
		}
	}
	for _, der := range contentsOf(pdf) {
		if p7, err := pkcs7.Parse(der); err == nil {
			add(p7.Certificates)
			for _, si := range p7.Signers {
				for _, a := range si.UnauthenticatedAttributes {
					if a.Type.Equal(oidTimeStampToken) {
						if t, err := dpkcs7.Parse(a.Value.Bytes); err == nil {
							add(t.Certificates)
						}
					}
				}
			}
			continue
		}
		if t, err := dpkcs7.Parse(der); err == nil {
			add(t.Certificates)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no signature with certificates found")
	}
	return out, nil
}

// contentsOf returns the DER in every signature's /Contents.
func contentsOf(pdf []byte) [][]byte {
	var out [][]byte
	for _, loc := range reByteRange.FindAllSubmatchIndex(pdf, -1) {
		var br [4]int
		for i := range br {
			fmt.Sscan(string(pdf[loc[2+2*i]:loc[3+2*i]]), &br[i])
		}
		if br[1] <= 0 || br[2] <= br[1]+1 || br[2] > len(pdf) {
			continue
		}
		h := pdf[br[1]+1 : br[2]-1]
		der := make([]byte, len(h)/2)
		if _, err := hex.Decode(der, h); err == nil {
			out = append(out, der)
		}
	}
	return out
}

func addDSS(ctx context.Context, pdf []byte, cfg ExtendConfig) ([]byte, error) {
	certs, err := signatureCerts(pdf)
	if err != nil {
		return nil, err
	}
	crls, ocsps := append([][]byte(nil), cfg.CRLs...), append([][]byte(nil), cfg.OCSPs...)
	issuerOf := func(c *x509.Certificate) *x509.Certificate {
		for _, i := range certs {
			if bytes.Equal(i.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(i) == nil {
				return i
			}
		}
		return nil
	}
	if !cfg.NoFetch {
		seenCRL := map[string]bool{}
		for _, c := range certs {
			issuer := issuerOf(c)
			if issuer == nil || issuer == c {
				continue // a self-signed anchor needs no revocation data
			}
			if len(c.OCSPServer) > 0 {
				resp, err := fetchOCSP(ctx, cfg.HTTPClient, c.OCSPServer[0], c, issuer)
				if err != nil {
					return nil, fmt.Errorf("OCSP for %q: %w", c.Subject, err)
				}
				ocsps = append(ocsps, resp)
				continue
			}
			for _, u := range c.CRLDistributionPoints {
				if seenCRL[u] {
					continue
				}
				seenCRL[u] = true
				crl, err := httpGet(ctx, cfg.HTTPClient, u)
				if err != nil {
					return nil, fmt.Errorf("CRL for %q from %s: %w", c.Subject, u, err)
				}
				crls = append(crls, crl)
			}
		}
	}
	if len(crls) == 0 && len(ocsps) == 0 {
		return nil, errors.New("no revocation data: the certificates name no CRL or OCSP URL; give CRLs or OCSP responses")
	}
	f, err := parsePDF(pdf)
	if err != nil {
		return nil, err
	}
	catalog, err := f.object(f.root)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	entries, err := parseDict(catalog)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	u := newUpdate(f, 4096)
	var certRefs, crlRefs, ocspRefs []string
	for _, group := range []struct {
		data [][]byte
		refs *[]string
	}{{rawCerts(certs), &certRefs}, {crls, &crlRefs}, {ocsps, &ocspRefs}} {
		for _, d := range group.data {
			r := u.alloc()
			u.stream(r, d)
			*group.refs = append(*group.refs, r.String())
		}
	}
	dssRef := u.alloc()
	dss := "<</Type /DSS"
	for _, kv := range []struct {
		key  string
		refs []string
	}{{"Certs", certRefs}, {"CRLs", crlRefs}, {"OCSPs", ocspRefs}} {
		if len(kv.refs) > 0 {
			dss += fmt.Sprintf(" /%s [%s]", kv.key, strings.Join(kv.refs, " "))
		}
	}
	u.object(dssRef, []byte(dss+">>"))
	// The catalog is rewritten with every entry kept but /DSS, which now names the new store
	// (it repeats what an older DSS held, since the certificates come from the signatures).
	var cat bytes.Buffer
	cat.WriteString("<<")
	for _, e := range entries {
		if e.key == "DSS" {
			continue
		}
		fmt.Fprintf(&cat, "/%s %s\n", e.key, e.value)
	}
	fmt.Fprintf(&cat, "/DSS %s>>", dssRef)
	u.object(f.root, cat.Bytes())
	cfg.Logger.Debug("added DSS", "certs", len(certRefs), "crls", len(crlRefs), "ocsps", len(ocspRefs))
	return u.finish(), nil
}

func rawCerts(cs []*x509.Certificate) [][]byte {
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Raw
	}
	return out
}

func addDocTimestamp(ctx context.Context, pdf []byte, cfg ExtendConfig) ([]byte, error) {
	ph, err := appendSigField(pdf, sigField{
		head:        "/Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161",
		contentsLen: 12288,
		fieldName:   "varde-document-time-stamp",
	})
	if err != nil {
		return nil, err
	}
	token, err := fetchTimestamp(ctx, cfg.HTTPClient, cfg.TSAURL, ph.signedBytes())
	if err != nil {
		return nil, fmt.Errorf("time-stamp from %s: %w", cfg.TSAURL, err)
	}
	if err := ph.fill(token); err != nil {
		return nil, err
	}
	return ph.out, nil
}

func fetchOCSP(ctx context.Context, client *http.Client, url string, cert, issuer *x509.Certificate) ([]byte, error) {
	req, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	body, err := do(client, hreq)
	if err != nil {
		return nil, err
	}
	if _, err := ocsp.ParseResponseForCert(body, cert, issuer); err != nil {
		return nil, fmt.Errorf("response: %w", err)
	}
	return body, nil
}

func httpGet(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("not an HTTP URL: %s", url)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	body, err := do(client, req)
	if err != nil {
		return nil, err
	}
	if _, err := x509.ParseRevocationList(body); err != nil {
		return nil, fmt.Errorf("CRL: %w", err)
	}
	return body, nil
}

func do(client *http.Client, req *http.Request) ([]byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return body, nil
}
