package sign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/pkcs7"

	"github.com/varde/varde"
)

// Result is what Verify found about a report's last signature.
type Result struct {
	SignerSubject string
	// Fingerprint is the lowercase hex SHA-256 of the signer certificate.
	Fingerprint string
	// SigningTime is the claimed time from /M (not proof; see TimestampTime).
	SigningTime time.Time
	// CoversWholeFile: the byte ranges cover every byte but the /Contents value.
	CoversWholeFile bool
	// ModifiedAfterSigning: bytes follow the signed revision.
	ModifiedAfterSigning bool
	// SignedLength is where the signed revision ends; FileLength the file's size.
	SignedLength, FileLength int64
	DigestValid              bool
	SignatureValid           bool
	// ChainChecked: roots were given; ChainTrusted: the signer certificate chains to one of them.
	ChainChecked, ChainTrusted bool
	TimestampPresent           bool
	TimestampTime              time.Time
	// Errors lists every problem found; empty means the signature is valid and covers the file.
	Errors []string
}

// Valid reports whether no problem was found.
func (r Result) Valid() bool { return len(r.Errors) == 0 }

func (r *Result) fail(format string, a ...any) {
	r.Errors = append(r.Errors, fmt.Sprintf(format, a...))
}

var (
	reByteRange = regexp.MustCompile(`/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]`)
	reM         = regexp.MustCompile(`/M\s*\((D:[^)]*)\)`)
)

// ErrNoSignature is returned by Verify for a PDF without a signature.
var ErrNoSignature = errors.New("no signature found")

// Verify checks the last signature in pdf. roots nil means the chain is not checked
// (ChainChecked false; not an error, so integrity alone can be checked). The error return is
// only for input that holds no parsable signature; a broken signature is a Result with Errors.
func Verify(pdf []byte, roots *x509.CertPool) (Result, error) {
	r := Result{FileLength: int64(len(pdf))}
	locs := reByteRange.FindAllSubmatchIndex(pdf, -1)
	if len(locs) == 0 {
		return r, ErrNoSignature
	}
	loc := locs[len(locs)-1]
	var br [4]int
	for i := range br {
		v, err := strconv.Atoi(string(pdf[loc[2+2*i]:loc[3+2*i]]))
		if err != nil {
			return r, fmt.Errorf("/ByteRange value: %w", err)
		}
		br[i] = v
	}
	if br[0] != 0 || br[1] <= 0 || br[2] <= br[1] || br[3] < 0 || br[2]+br[3] > len(pdf) || br[2]+br[3] < br[2] {
		return r, fmt.Errorf("/ByteRange %v does not fit a file of %d bytes", br, len(pdf))
	}
	if pdf[br[1]] != '<' || pdf[br[2]-1] != '>' {
		return r, fmt.Errorf("/ByteRange %v gap is not the /Contents hex string", br)
	}
	// The /ByteRange must itself be signed: one outside the signed bytes could be rewritten freely.
	if !(loc[1] <= br[1] || loc[0] >= br[2] && loc[1] <= br[2]+br[3]) {
		return r, fmt.Errorf("/ByteRange %v at offset %d is not inside the bytes it says are signed", br, loc[0])
	}
	r.SignedLength = int64(br[2] + br[3])
	r.ModifiedAfterSigning = r.SignedLength < r.FileLength
	r.CoversWholeFile = !r.ModifiedAfterSigning
	if r.ModifiedAfterSigning {
		r.fail("modified after signing: %d bytes follow the signed revision (signed %d of %d bytes)",
			r.FileLength-r.SignedLength, r.SignedLength, r.FileLength)
	}
	if !bytes.HasSuffix(bytes.TrimRight(pdf[:r.SignedLength], "\r\n "), []byte("%%EOF")) {
		r.fail("signed range does not end at a revision's %%%%EOF")
	}
	// The signature dictionary around the ByteRange holds /M.
	dictStart := bytes.LastIndex(pdf[:loc[0]], []byte(" obj"))
	dictEnd := bytes.Index(pdf[loc[1]:], []byte("endobj"))
	// Only when the /Contents gap lies inside that dictionary: a changed file may put them anywhere.
	if dictStart >= 0 && dictEnd >= 0 && dictStart <= br[1] && br[2] <= loc[1]+dictEnd {
		dict := append(append([]byte(nil), pdf[dictStart:br[1]]...), pdf[br[2]:loc[1]+dictEnd]...)
		if m := reM.FindSubmatch(dict); m != nil {
			if t, err := parsePDFDate(string(m[1])); err == nil {
				r.SigningTime = t
			} else {
				r.fail("/M: %v", err)
			}
		}
	}

	hexContents := pdf[br[1]+1 : br[2]-1]
	der := make([]byte, len(hexContents)/2)
	if _, err := hex.Decode(der, hexContents); err != nil {
		return r, fmt.Errorf("/Contents is not hex: %w", err)
	}
	// pdfcpu's parser takes BER (poppler and others write indefinite lengths) and ignores the
	// zero padding after the CMS.
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return r, fmt.Errorf("/Contents CMS: %w", err)
	}
	if len(p7.Signers) != 1 {
		return r, fmt.Errorf("CMS has %d signers, want 1", len(p7.Signers))
	}
	si := p7.Signers[0]
	cert, err := pkcs7.GetCertFromCertsByIssuerAndSerial(p7.Certificates, si.IssuerAndSerialNumber)
	if err != nil || cert == nil {
		r.fail("signer certificate not included in the CMS")
		return r, nil
	}
	r.SignerSubject = cert.Subject.String()
	sum := sha256.Sum256(cert.Raw)
	r.Fingerprint = hex.EncodeToString(sum[:])

	signed := make([]byte, 0, br[1]+br[3])
	signed = append(signed, pdf[:br[1]]...)
	signed = append(signed, pdf[br[2]:br[2]+br[3]]...)
	err = pkcs7.CheckSignature(cert, si, signed)
	var mismatch *pkcs7.MessageDigestMismatchError
	switch {
	case err == nil:
		r.DigestValid, r.SignatureValid = true, true
	case errors.As(err, &mismatch):
		r.SignatureValid = true
		r.fail("digest mismatch: the signed bytes were changed")
	default:
		r.fail("signature invalid: %v", err)
	}

	if err := checkSigningCertificateV2(si, cert); err != nil {
		r.fail("%v", err)
	}

	for _, a := range si.UnauthenticatedAttributes {
		if !a.Type.Equal(oidTimeStampToken) {
			continue
		}
		r.TimestampPresent = true
		ts, err := timestamp.Parse(a.Value.Bytes)
		if err != nil {
			r.fail("signature time-stamp: %v", err)
			continue
		}
		h := ts.HashAlgorithm.New()
		h.Write(si.EncryptedDigest)
		if !bytes.Equal(h.Sum(nil), ts.HashedMessage) {
			r.fail("signature time-stamp does not cover the signature value")
			continue
		}
		r.TimestampTime = ts.Time
	}

	if roots == nil {
		return r, nil
	}
	r.ChainChecked = true
	others := make([]*x509.Certificate, 0, len(p7.Certificates))
	for _, c := range p7.Certificates {
		if c != cert {
			others = append(others, c)
		}
	}
	at := r.SigningTime
	if !r.TimestampTime.IsZero() {
		at = r.TimestampTime
	}
	if at.IsZero() {
		at = time.Now()
	}
	if _, err := pkcs7.VerifyCertChain(cert, others, roots, at); err != nil {
		r.fail("certificate %q does not chain to the given CA: %v", r.SignerSubject, err)
	} else {
		r.ChainTrusted = true
	}
	return r, nil
}

// VerifyFile reads path and verifies it.
func VerifyFile(ctx context.Context, path string, roots *x509.CertPool) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	pdf, err := varde.ReadFile(path, PDFLimit)
	if err != nil {
		return Result{}, fmt.Errorf("verify: %w", err)
	}
	r, err := Verify(pdf, roots)
	if err != nil {
		return r, fmt.Errorf("verify %s: %w", path, err)
	}
	return r, nil
}

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
