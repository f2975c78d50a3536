package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/varde/varde"
	"regexp"
	"strconv"
	"strings"
	"time"

	dpkcs7 "github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/pkcs7"
)

// Verification fails closed: a signature is valid only when its signer chains to a configured
// trust anchor at a time that is proven (a trusted time-stamp) or else now, has a signing key
// usage, is not revoked by any CRL or OCSP response at hand, and every revision after it only
// adds validation data, signatures or document time-stamps.

// Status is the outcome for one signature.
type Status string

const (
	StatusValid     Status = "valid"
	StatusUntrusted Status = "signature intact, signer not trusted"
	StatusInvalid   Status = "invalid"
)

// Level is the PAdES baseline level (ETSI EN 319 142-1) a signature reached.
type Level string

const (
	LevelNone Level = "none"
	LevelBB   Level = "B-B"
	LevelBT   Level = "B-T"
	LevelBLT  Level = "B-LT"
	LevelBLTA Level = "B-LTA"
)

// Kind tells a CMS signature from a document time-stamp.
type Kind string

const (
	KindSignature    Kind = "signature"
	KindDocTimestamp Kind = "document-time-stamp"
)

// TimestampStatus is what was found about an RFC 3161 token.
type TimestampStatus string

const (
	TimestampNone      TimestampStatus = "none"
	TimestampTrusted   TimestampStatus = "trusted"
	TimestampUntrusted TimestampStatus = "untrusted"
	TimestampInvalid   TimestampStatus = "invalid"
)

// RevocationStatus is what CRLs and OCSP responses say about a signer chain.
type RevocationStatus string

const (
	RevocationGood    RevocationStatus = "good"
	RevocationRevoked RevocationStatus = "revoked"
	RevocationUnknown RevocationStatus = "unknown"
)

// VerifyConfig holds the trust anchors and revocation data verification uses.
type VerifyConfig struct {
	// Roots are the trust anchors for signers. Without them nothing is trusted.
	Roots *x509.CertPool
	// TSARoots are the trust anchors for time-stamp authorities. Without them no time-stamp
	// counts as proof of time.
	TSARoots *x509.CertPool
	// CRLs and OCSPs are revocation data given by the verifier, used beside the file's DSS.
	CRLs  []*x509.RevocationList
	OCSPs [][]byte
	// Now is the verification time; default time.Now.
	Now func() time.Time
}

func (c VerifyConfig) withDefaults() VerifyConfig {
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports configuration that cannot be used.
func (c VerifyConfig) Validate() error {
	for i, crl := range c.CRLs {
		if crl == nil {
			return fmt.Errorf("verify config: CRL %d is nil", i+1)
		}
	}
	return nil
}

// Report is the validation report for one file.
type Report struct {
	File       string             `json:"file,omitempty"`
	FileLength int64              `json:"file_length"`
	VerifiedAt time.Time          `json:"verified_at"`
	Revisions  []RevisionReport   `json:"revisions"`
	Signatures []*SignatureReport `json:"signatures"`
	// Problems are about the file as a whole, such as bytes no signature covers.
	Problems []string `json:"problems,omitempty"`
}

// RevisionReport is one incremental update.
type RevisionReport struct {
	Number int    `json:"number"`
	End    int64  `json:"end"`
	Adds   string `json:"adds,omitempty"`
}

// SignatureReport is what was found about one signature or document time-stamp.
type SignatureReport struct {
	Field    string `json:"field,omitempty"`
	Kind     Kind   `json:"kind"`
	Revision int    `json:"revision"` // the revision whose end the signature covers, from 1
	// SignedLength: the byte range covers [0, SignedLength) but the /Contents value.
	SignedLength int64  `json:"signed_length"`
	Status       Status `json:"status"`
	Level        Level  `json:"level,omitempty"`
	// MissingForNext says what the next PAdES level needs.
	MissingForNext string   `json:"missing_for_next_level,omitempty"`
	Signer         string   `json:"signer,omitempty"`
	Fingerprint    string   `json:"signer_sha256,omitempty"`
	Chain          []string `json:"chain,omitempty"`
	TrustAnchor    string   `json:"trust_anchor,omitempty"`
	// ClaimedTime is /M, written by the signer: not proof of anything.
	ClaimedTime *time.Time `json:"claimed_time,omitempty"`
	// ProvenTime is the time of a trusted time-stamp over the signature.
	ProvenTime *time.Time `json:"proven_time,omitempty"`
	// ValidatedAt is when the chain was checked: ProvenTime, else the verification time.
	ValidatedAt      time.Time        `json:"validated_at"`
	Timestamp        *TimestampReport `json:"timestamp,omitempty"`
	Revocation       RevocationStatus `json:"revocation"`
	RevocationSource string           `json:"revocation_source,omitempty"`
	DigestValid      bool             `json:"digest_valid"`
	SignatureValid   bool             `json:"signature_valid"`
	Problems         []string         `json:"problems,omitempty"`

	signerCert *x509.Certificate
	chain      []*x509.Certificate
	revFromDSS bool
}

// TimestampReport describes an RFC 3161 token.
type TimestampReport struct {
	Status      TimestampStatus `json:"status"`
	Time        *time.Time      `json:"time,omitempty"`
	TSA         string          `json:"tsa,omitempty"`
	TrustAnchor string          `json:"trust_anchor,omitempty"`
	Problem     string          `json:"problem,omitempty"`

	chain []*x509.Certificate
}

func (s *SignatureReport) fail(format string, a ...any) {
	s.Problems = append(s.Problems, fmt.Sprintf(format, a...))
}

// Valid reports whether the file holds at least one signature, every signature and document
// time-stamp is valid and trusted, and no byte is outside what they and the allowed later
// revisions account for.
func (r *Report) Valid() bool {
	if len(r.Problems) > 0 || len(r.Signatures) == 0 {
		return false
	}
	for _, s := range r.Signatures {
		if s.Status != StatusValid {
			return false
		}
	}
	return true
}

// Level is the lowest level any CMS signature in the file reached.
func (r *Report) Level() Level {
	order := []Level{LevelNone, LevelBB, LevelBT, LevelBLT, LevelBLTA}
	best := -1
	for _, s := range r.Signatures {
		if s.Kind != KindSignature {
			continue
		}
		i := max(0, indexOf(order, s.Level))
		if best < 0 || i < best {
			best = i
		}
	}
	if best < 0 {
		return LevelNone
	}
	return order[best]
}

func indexOf(order []Level, l Level) int {
	for i, x := range order {
		if x == l {
			return i
		}
	}
	return -1
}

var (
	reByteRange = regexp.MustCompile(`/ByteRange\s*\[\s*(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s*\]`)
	reM         = regexp.MustCompile(`/M\s*\((D:[^)]*)\)`)
	reEOF       = regexp.MustCompile(`%%EOF(\r\n|\r|\n)?`)
	reObjNum    = regexp.MustCompile(`(\d{1,10})\s+(\d{1,5})\s+obj\s*$`)
)

// ErrNoSignature is returned by Verify for a PDF without a signature.
var ErrNoSignature = errors.New("no signature found")

// Verify checks every signature and document time-stamp in pdf and every revision after the
// first signed one. The error return is for input that holds no signature at all; everything
// else is in the Report.
func Verify(pdf []byte, cfg VerifyConfig) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := cfg.Now()
	r := &Report{FileLength: int64(len(pdf)), VerifiedAt: now}
	ends := revisionEnds(pdf)
	for i, e := range ends {
		r.Revisions = append(r.Revisions, RevisionReport{Number: i + 1, End: int64(e)})
	}
	locs := reByteRange.FindAllSubmatchIndex(pdf, -1)
	if len(locs) == 0 {
		return r, ErrNoSignature
	}
	for _, loc := range locs {
		r.Signatures = append(r.Signatures, checkOne(pdf, loc, ends, cfg, now))
	}
	firstSigned := len(ends)
	for _, s := range r.Signatures {
		if s.Revision > 0 && s.Revision-1 < firstSigned {
			firstSigned = s.Revision - 1
		}
	}
	last := 0
	if len(ends) > 0 {
		last = ends[len(ends)-1]
	}
	if last < len(pdf) {
		r.Problems = append(r.Problems, fmt.Sprintf("modified after signing: %d bytes follow the last revision", len(pdf)-last))
	}
	// Later revisions: what each adds, and whether that is all it does.
	dssRev := 0
	var dss *dssData
	for k := firstSigned + 1; k < len(ends); k++ {
		adds, d, err := checkRevision(pdf, ends[k-1], ends[k])
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("modified after signing: revision %d: %v", k+1, err))
			continue
		}
		r.Revisions[k].Adds = adds
		if d != nil {
			dss, dssRev = d, k+1
		}
	}
	for _, s := range r.Signatures {
		if s.Status == StatusInvalid || s.signerCert == nil {
			continue
		}
		if s.Kind == KindSignature {
			checkTrust(s, cfg, dss, dssRev, now)
		}
	}
	assignLevels(r, dssRev)
	return r, nil
}

// revisionEnds lists where each revision ends: after %%EOF and its end-of-line.
func revisionEnds(pdf []byte) []int {
	var out []int
	for _, m := range reEOF.FindAllIndex(pdf, -1) {
		out = append(out, m[1])
	}
	return out
}

// checkOne checks the integrity of one signature dictionary and, for a document time-stamp,
// its trust as well.
func checkOne(pdf []byte, loc []int, ends []int, cfg VerifyConfig, now time.Time) *SignatureReport {
	s := &SignatureReport{Kind: KindSignature, Status: StatusInvalid, Revocation: RevocationUnknown, ValidatedAt: now}
	var br [4]int
	for i := range br {
		v, err := strconv.Atoi(string(pdf[loc[2+2*i]:loc[3+2*i]]))
		if err != nil {
			s.fail("/ByteRange value: %v", err)
			return s
		}
		br[i] = v
	}
	n := len(pdf)
	if br[0] != 0 || br[1] <= 0 || br[1] >= n || br[2] <= br[1]+1 || br[2] > n || br[3] < 0 || br[3] > n-br[2] {
		s.fail("/ByteRange %v does not fit a file of %d bytes", br, n)
		return s
	}
	if pdf[br[1]] != '<' || pdf[br[2]-1] != '>' || (br[2]-br[1])%2 != 0 {
		s.fail("/ByteRange %v gap is not a hex string", br)
		return s
	}
	if loc[1] > br[1] {
		s.fail("/ByteRange %v lies outside the bytes it signs", br)
		return s
	}
	if !bytes.HasSuffix(bytes.TrimRight(pdf[loc[1]:br[1]], " \r\n\t"), []byte("/Contents")) {
		s.fail("/ByteRange %v gap is not the /Contents of its own dictionary", br)
		return s
	}
	s.SignedLength = int64(br[2] + br[3])
	for i, e := range ends {
		if e == br[2]+br[3] {
			s.Revision = i + 1
		}
	}
	if s.Revision == 0 {
		s.fail("signed range does not end at a revision's %%%%EOF")
		return s
	}
	// The dictionary around the byte range: from its "obj" to its "endobj".
	head := pdf[:loc[0]]
	objAt := bytes.LastIndex(head, []byte("obj"))
	tailEnd := bytes.Index(pdf[br[2]:], []byte("endobj"))
	if objAt < 0 || tailEnd < 0 {
		s.fail("signature dictionary has no obj/endobj around it")
		return s
	}
	dict := append(append([]byte(nil), pdf[objAt:br[1]]...), pdf[br[2]:br[2]+tailEnd]...)
	if m := reObjNum.FindSubmatch(pdf[max(0, objAt-24) : objAt+3]); m != nil {
		re := regexp.MustCompile(`/T\s*\(([^)]{0,128})\)\s*/V\s+` + string(m[1]) + `\s+` + string(m[2]) + `\s+R\b`)
		if f := re.FindSubmatch(pdf); f != nil {
			s.Field = string(f[1])
		}
	}
	if bytes.Contains(dict, []byte("/DocTimeStamp")) {
		s.Kind = KindDocTimestamp
	}
	if m := reM.FindSubmatch(dict); m != nil {
		if t, err := parsePDFDate(string(m[1])); err == nil {
			s.ClaimedTime = &t
		}
	}
	hexContents := pdf[br[1]+1 : br[2]-1]
	der := make([]byte, len(hexContents)/2)
	if _, err := hex.Decode(der, hexContents); err != nil {
		s.fail("/Contents is not hex: %v", err)
		return s
	}
	// Bytes after the DER must be zero padding: they are outside the byte range, so anything
	// else there would be unsigned data.
	var outer asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &outer); err == nil {
		if bytes.ContainsFunc(rest, func(r rune) bool { return r != 0 }) {
			s.fail("/Contents holds bytes after the CMS that are not zero padding")
			return s
		}
		der = der[:len(der)-len(rest)]
	}
	signed := make([]byte, 0, br[1]+br[3])
	signed = append(signed, pdf[:br[1]]...)
	signed = append(signed, pdf[br[2]:br[2]+br[3]]...)
	if s.Kind == KindDocTimestamp {
		checkDocTimestamp(s, der, signed, cfg, now)
		return s
	}
	checkCMS(s, der, signed, cfg, now)
	return s
}

func checkCMS(s *SignatureReport, der, signed []byte, cfg VerifyConfig, now time.Time) {
	// pdfcpu's parser takes BER (poppler and others write indefinite lengths).
	p7, err := pkcs7.Parse(der)
	if err != nil {
		s.fail("/Contents CMS: %v", err)
		return
	}
	if len(p7.Signers) != 1 {
		s.fail("CMS has %d signers, want 1", len(p7.Signers))
		return
	}
	si := p7.Signers[0]
	cert, err := pkcs7.GetCertFromCertsByIssuerAndSerial(p7.Certificates, si.IssuerAndSerialNumber)
	if err != nil || cert == nil {
		s.fail("signer certificate not included in the CMS")
		return
	}
	s.Signer = cert.Subject.String()
	sum := sha256.Sum256(cert.Raw)
	s.Fingerprint = hex.EncodeToString(sum[:])
	err = pkcs7.CheckSignature(cert, si, signed)
	var mismatch *pkcs7.MessageDigestMismatchError
	switch {
	case err == nil:
		s.DigestValid, s.SignatureValid = true, true
	case errors.As(err, &mismatch):
		s.SignatureValid = true
		s.fail("digest mismatch: the signed bytes were changed")
		return
	default:
		s.fail("signature invalid: %v", err)
		return
	}
	if err := checkSigningCertificateV2(si, cert); err != nil {
		s.fail("%v", err)
		return
	}
	if cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		s.fail("signer certificate %q allows neither digitalSignature nor nonRepudiation", s.Signer)
		return
	}
	s.Status = StatusUntrusted
	s.signerCert = cert
	s.chain = p7.Certificates
	s.Timestamp = &TimestampReport{Status: TimestampNone}
	for _, a := range si.UnauthenticatedAttributes {
		if !a.Type.Equal(oidTimeStampToken) {
			continue
		}
		s.Timestamp = checkToken(a.Value.Bytes, func(alg crypto.Hash) []byte {
			hh := alg.New()
			hh.Write(si.EncryptedDigest)
			return hh.Sum(nil)
		}, cfg, now)
		if s.Timestamp.Status == TimestampTrusted {
			t := *s.Timestamp.Time
			s.ProvenTime = &t
		}
		break
	}
}

// checkToken verifies an RFC 3161 token: its CMS signature, that its imprint is imprint(alg),
// and that its TSA certificate has the timeStamping usage and chains to a TSA trust anchor.
func checkToken(token []byte, imprint func(crypto.Hash) []byte, cfg VerifyConfig, now time.Time) *TimestampReport {
	tr := &TimestampReport{Status: TimestampInvalid}
	ts, err := timestamp.Parse(token)
	if err != nil {
		tr.Problem = fmt.Sprintf("time-stamp token: %v", err)
		return tr
	}
	if !ts.HashAlgorithm.Available() || !bytes.Equal(imprint(ts.HashAlgorithm), ts.HashedMessage) {
		tr.Problem = "time-stamp token does not cover this signature"
		return tr
	}
	t := ts.Time.UTC()
	tr.Time = &t
	p7, err := dpkcs7.Parse(token)
	if err != nil {
		tr.Problem = fmt.Sprintf("time-stamp token: %v", err)
		return tr
	}
	tsa := p7.GetOnlySigner()
	tr.Status = TimestampUntrusted
	if tsa == nil {
		tr.Problem = "time-stamp token carries no TSA certificate"
		return tr
	}
	tr.TSA = tsa.Subject.String()
	if !contains2(tsa.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) {
		tr.Problem = fmt.Sprintf("TSA certificate %q lacks the timeStamping extended key usage", tr.TSA)
		return tr
	}
	if cfg.TSARoots == nil {
		tr.Problem = "no TSA trust anchor configured"
		return tr
	}
	inter := x509.NewCertPool()
	for _, c := range p7.Certificates {
		inter.AddCert(c)
	}
	chains, err := tsa.Verify(x509.VerifyOptions{Roots: cfg.TSARoots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}})
	if err != nil {
		tr.Problem = fmt.Sprintf("TSA %q is not trusted: %v", tr.TSA, err)
		return tr
	}
	if err := checkRevoked(chains[0], t, cfg, nil); err != nil {
		tr.Problem = fmt.Sprintf("TSA %q: %v", tr.TSA, err)
		return tr
	}
	tr.Status = TimestampTrusted
	tr.chain = chains[0]
	tr.TrustAnchor = chains[0][len(chains[0])-1].Subject.String()
	return tr
}

func contains2(list []x509.ExtKeyUsage, u x509.ExtKeyUsage) bool {
	for _, x := range list {
		if x == u {
			return true
		}
	}
	return false
}

func checkDocTimestamp(s *SignatureReport, der, signed []byte, cfg VerifyConfig, now time.Time) {
	s.Timestamp = checkToken(der, func(alg crypto.Hash) []byte {
		h := alg.New()
		h.Write(signed)
		return h.Sum(nil)
	}, cfg, now)
	tr := s.Timestamp
	s.Signer = tr.TSA
	switch tr.Status {
	case TimestampInvalid:
		if strings.Contains(tr.Problem, "does not cover") {
			s.fail("digest mismatch: the time-stamped bytes were changed")
		} else {
			s.fail("%s", tr.Problem)
		}
		return
	case TimestampUntrusted:
		s.DigestValid, s.SignatureValid = true, true
		s.Status = StatusUntrusted
		s.fail("%s", tr.Problem)
		return
	}
	s.DigestValid, s.SignatureValid = true, true
	s.Status = StatusValid
	s.TrustAnchor = tr.TrustAnchor
	s.ProvenTime = tr.Time
	s.ValidatedAt = now
	s.Revocation, s.RevocationSource, _ = revocation(tr.chain, now, cfg, nil)
}

// checkTrust validates the signer chain at the proven time (else now), with revocation data
// from the DSS and the verifier.
func checkTrust(s *SignatureReport, cfg VerifyConfig, dss *dssData, dssRev int, now time.Time) {
	at := now
	if s.ProvenTime != nil {
		at = *s.ProvenTime
	}
	s.ValidatedAt = at
	if s.Timestamp != nil && s.Timestamp.Status != TimestampTrusted && s.Timestamp.Status != TimestampNone {
		s.fail("signature time-stamp not used: %s", s.Timestamp.Problem)
	}
	if cfg.Roots == nil {
		s.fail("no trust anchors configured (give --ca or a trust directory)")
		return
	}
	inter := x509.NewCertPool()
	for _, c := range s.chain {
		inter.AddCert(c)
	}
	if dss != nil && dssRev > s.Revision {
		for _, c := range dss.certs {
			inter.AddCert(c)
		}
	}
	chains, err := s.signerCert.Verify(x509.VerifyOptions{Roots: cfg.Roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		s.fail("certificate %q does not chain to a trust anchor at %s: %v", s.Signer, at.UTC().Format(time.RFC3339), err)
		return
	}
	chain := chains[0]
	for _, c := range chain {
		s.Chain = append(s.Chain, c.Subject.String())
	}
	s.TrustAnchor = chain[len(chain)-1].Subject.String()
	var fromDSS *dssData
	if dss != nil && dssRev > s.Revision {
		fromDSS = dss
	}
	st, src, err := revocation(chain, at, cfg, fromDSS)
	s.Revocation, s.RevocationSource = st, src
	if err != nil {
		s.Status = StatusInvalid
		s.fail("%v", err)
		return
	}
	s.revFromDSS = st == RevocationGood && strings.HasPrefix(src, "DSS")
	s.Status = StatusValid
}

// checkRevoked fails when any CRL or OCSP response at hand says a chain member was revoked at or
// before at.
func checkRevoked(chain []*x509.Certificate, at time.Time, cfg VerifyConfig, dss *dssData) error {
	st, _, err := revocation(chain, at, cfg, dss)
	if st == RevocationRevoked {
		return err
	}
	return nil
}

// revocation checks every certificate in chain but the anchor against the CRLs and OCSP
// responses in dss and cfg. It says "good" only when every one was covered, and names the
// source ("DSS" when all came from the file).
func revocation(chain []*x509.Certificate, at time.Time, cfg VerifyConfig, dss *dssData) (RevocationStatus, string, error) {
	var crls []*x509.RevocationList
	var ocsps [][]byte
	if dss != nil {
		crls = append(crls, dss.crls...)
		ocsps = append(ocsps, dss.ocsps...)
	}
	nDSS := [2]int{len(crls), len(ocsps)}
	crls = append(crls, cfg.CRLs...)
	ocsps = append(ocsps, cfg.OCSPs...)
	allCovered, allDSS := true, true
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		covered := false
		for j, crl := range crls {
			if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) || crl.CheckSignatureFrom(issuer) != nil {
				continue
			}
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(cert.SerialNumber) == 0 && !e.RevocationTime.After(at) {
					return RevocationRevoked, "CRL", fmt.Errorf("certificate %q revoked at %s (CRL)", cert.Subject, e.RevocationTime.UTC().Format(time.RFC3339))
				}
			}
			covered = true
			if j >= nDSS[0] {
				allDSS = false
			}
		}
		for j, der := range ocsps {
			resp, err := parseOCSP(der, cert, issuer)
			if err != nil {
				continue
			}
			switch {
			case resp.revoked && !resp.revokedAt.After(at):
				return RevocationRevoked, "OCSP", fmt.Errorf("certificate %q revoked at %s (OCSP)", cert.Subject, resp.revokedAt.UTC().Format(time.RFC3339))
			case resp.good:
				covered = true
				if j >= nDSS[1] {
					allDSS = false
				}
			}
		}
		if !covered {
			allCovered = false
		}
	}
	switch {
	case len(chain) < 2:
		return RevocationGood, "trust anchor", nil
	case !allCovered:
		return RevocationUnknown, "", nil
	case allDSS:
		return RevocationGood, "DSS", nil
	default:
		return RevocationGood, "verifier", nil
	}
}

// assignLevels sets each CMS signature's PAdES level and what the next one needs.
func assignLevels(r *Report, dssRev int) {
	for _, s := range r.Signatures {
		if s.Kind != KindSignature {
			continue
		}
		switch {
		case s.Status != StatusValid:
			s.Level, s.MissingForNext = LevelNone, "a valid signature by a trusted signer"
		case s.ProvenTime == nil:
			s.Level, s.MissingForNext = LevelBB, "a signature time-stamp from a trusted TSA (sign with tsa_url)"
		case !s.revFromDSS || dssRev <= s.Revision:
			s.Level, s.MissingForNext = LevelBT, "a DSS with revocation data for the signer chain (varde report extend --lt)"
		default:
			s.Level, s.MissingForNext = LevelBLT, "a trusted document time-stamp after the DSS (varde report extend --lta)"
			for _, d := range r.Signatures {
				if d.Kind == KindDocTimestamp && d.Status == StatusValid && d.Revision > dssRev {
					s.Level, s.MissingForNext = LevelBLTA, ""
				}
			}
		}
	}
}

// VerifyFile reads path and verifies it.
func VerifyFile(ctx context.Context, path string, cfg VerifyConfig) (*Report, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pdf, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	r, err := Verify(pdf, cfg)
	if err != nil {
		return r, fmt.Errorf("verify %s: %w", path, err)
	}
	r.File = path
	return r, nil
}

// readLimited reads a PDF to verify: a regular file only, at most PDFLimit, said so in the error.
func readLimited(path string) ([]byte, error) { return varde.ReadFile(path, PDFLimit) }

// checkSigningCertificateV2 makes sure the signed attributes name the certificate that signed
// (PAdES B-B), so a certificate swapped in with the same key is caught.
func checkSigningCertificateV2(si pkcs7.SignerInfo, cert *x509.Certificate) error {
	for _, a := range si.AuthenticatedAttributes {
		if a.Type.Equal(oidSigningTime) {
			return errors.New("signed attributes carry signing-time, which PAdES forbids")
		}
	}
	for _, a := range si.AuthenticatedAttributes {
		if !a.Type.Equal(oidSigningCertV2) {
			continue
		}
		// Other signers may spell out the default SHA-256 algorithm, so parse it as optional.
		var v struct {
			Certs []struct {
				HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
				CertHash      []byte
				IssuerSerial  asn1.RawValue `asn1:"optional"`
			}
			Policies asn1.RawValue `asn1:"optional"`
		}
		if _, err := asn1.Unmarshal(a.Value.Bytes, &v); err != nil || len(v.Certs) == 0 {
			return fmt.Errorf("signing-certificate-v2 attribute is malformed: %v", err)
		}
		if alg := v.Certs[0].HashAlgorithm.Algorithm; len(alg) > 0 && !alg.Equal(oidSHA256) {
			return fmt.Errorf("signing-certificate-v2 uses hash %v; only SHA-256 is checked", alg)
		}
		sum := sha256.Sum256(cert.Raw)
		if !bytes.Equal(v.Certs[0].CertHash, sum[:]) {
			return errors.New("signing-certificate-v2 does not match the signer certificate")
		}
		return nil
	}
	return errors.New("signing-certificate-v2 attribute missing (not PAdES B-B)")
}
