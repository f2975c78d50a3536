// Package sign adds and checks the PAdES baseline B-B signature on varde's PDF reports:
// a detached CMS (ETSI.CAdES.detached) embedded by an incremental update, so pdfsig, pdfcpu and
// Acrobat can verify a report without varde. It also makes and loads the signing keys.
package sign

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/varde/varde"
)

// Options are the per-signature settings.
type Options struct {
	// Now is the clock for /M; default time.Now. Injected so reports are reproducible.
	Now func() time.Time
	// Name, Reason, Location and ContactInfo are optional /Sig entries.
	Name, Reason, Location, ContactInfo string
	// FieldName is the signature field's /T; default "varde-signature".
	FieldName string
	// TSAURL, when set, is an RFC 3161 time-stamp authority; the token becomes the
	// signature time-stamp (unsigned attribute id-aa-signatureTimeStampToken).
	TSAURL string
	// HTTPClient talks to the TSA; default a client with a 30 s timeout.
	HTTPClient *http.Client
	// Logger is optional.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FieldName == "" {
		o.FieldName = "varde-signature"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Sign returns pdf with a signature appended as an incremental update; pdf itself is not modified.
// A PDF signed before gets a second signature field, so earlier signatures stay valid.
func Sign(ctx context.Context, pdf []byte, s *Signer, opts Options) ([]byte, error) {
	if s == nil || s.Cert == nil || s.Key == nil {
		return nil, errors.New("sign: no signer")
	}
	opts = opts.withDefaults()
	// Room for the CMS: certificates, attributes and signature, plus the TSA token when asked.
	contentsLen := 4096
	contentsLen += len(s.Cert.Raw)
	for _, c := range s.Chain {
		contentsLen += len(c.Raw)
	}
	if opts.TSAURL != "" {
		contentsLen += 12288
	}
	var tail strings.Builder
	fmt.Fprintf(&tail, "\n/M %s", pdfString(pdfDate(opts.Now())))
	for _, kv := range [][2]string{{"Name", opts.Name}, {"Reason", opts.Reason}, {"Location", opts.Location}, {"ContactInfo", opts.ContactInfo}} {
		if kv[1] != "" {
			fmt.Fprintf(&tail, "\n/%s %s", kv[0], pdfString(kv[1]))
		}
	}
	ph, err := appendSigField(pdf, sigField{
		head:        "/Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached",
		contentsLen: contentsLen,
		fieldName:   opts.FieldName,
		tail:        tail.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	digest := sha256.Sum256(ph.signedBytes())
	cms, err := newCMS(s, digest[:])
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	var token []byte
	if opts.TSAURL != "" {
		token, err = fetchTimestamp(ctx, opts.HTTPClient, opts.TSAURL, cms.signature)
		if err != nil {
			return nil, fmt.Errorf("sign: time-stamp from %s: %w", opts.TSAURL, err)
		}
	}
	der, err := cms.finish(token)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if err := ph.fill(der); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	opts.Logger.Debug("signed PDF", "bytes", len(ph.out), "cms_bytes", len(der), "timestamped", token != nil)
	return ph.out, nil
}

// SignFile signs the PDF at in and writes the result to out (which may be in) through a
// temporary file in out's directory that is renamed into place, so no partial PDF is left.
func SignFile(ctx context.Context, in, out string, s *Signer, opts Options) error {
	pdf, err := varde.ReadFile(in, PDFLimit)
	if err != nil {
		return fmt.Errorf("sign: read input: %w", err)
	}
	signed, err := Sign(ctx, pdf, s, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return varde.WriteFileAtomic(out, signed, 0o644)
}

// pdfVersionBelow17 reads the header version, %PDF-1.x.
func pdfVersionBelow17(pdf []byte) bool {
	return len(pdf) > 8 && pdf[5] == '1' && pdf[6] == '.' && pdf[7] >= '0' && pdf[7] < '7'
}

// pdfDate formats t as a PDF date string, D:YYYYMMDDHHmmSS+HH'mm'.
func pdfDate(t time.Time) string {
	_, off := t.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("D:%s%c%02d'%02d'", t.Format("20060102150405"), sign, off/3600, off%3600/60)
}

// parsePDFDate reads D:YYYYMMDDHHmmSS with an optional Z or +HH'mm' offset.
func parsePDFDate(s string) (time.Time, error) {
	s = strings.TrimPrefix(s, "D:")
	if len(s) < 14 {
		return time.Time{}, fmt.Errorf("PDF date %q too short", s)
	}
	t, err := time.Parse("20060102150405", s[:14])
	if err != nil {
		return time.Time{}, fmt.Errorf("PDF date %q: %w", s, err)
	}
	rest := s[14:]
	if rest == "" || rest[0] == 'Z' {
		return t, nil
	}
	var hh, mm int
	if _, err := fmt.Sscanf(strings.ReplaceAll(rest[1:], "'", " "), "%d %d", &hh, &mm); err != nil {
		return time.Time{}, fmt.Errorf("PDF date %q: bad offset", s)
	}
	off := hh*3600 + mm*60
	if rest[0] == '-' {
		off = -off
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.FixedZone("", off)), nil
}

// pdfString writes s as a PDF literal string; non-ASCII text becomes UTF-16BE with a BOM.
func pdfString(s string) string {
	ascii := true
	for _, r := range s {
		if r > 126 || r < 32 {
			ascii = false
			break
		}
	}
	if ascii {
		r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
		return "(" + r.Replace(s) + ")"
	}
	var b strings.Builder
	b.WriteString("<FEFF")
	for _, r := range s {
		if r > 0xFFFF {
			r1, r2 := 0xD800+((r-0x10000)>>10), 0xDC00+((r-0x10000)&0x3FF)
			fmt.Fprintf(&b, "%04X%04X", r1, r2)
			continue
		}
		fmt.Fprintf(&b, "%04X", r)
	}
	b.WriteString(">")
	return b.String()
}
