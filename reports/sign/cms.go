package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"sort"
)

// The CMS is written by hand with encoding/asn1 because PAdES B-B needs exact control:
// signing-certificate-v2, no signing-time, and an unsigned time-stamp attribute computed over
// the finished signature value (which pdfcpu's builder cannot add after signing).

var (
	oidData            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSigningCertV2   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidTimeStampToken  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	asn1NULL           = asn1.RawValue{Tag: asn1.TagNull}
)

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

// essCertIDv2 omits hashAlgorithm: SHA-256 is its DEFAULT, and DER forbids encoding a default.
type essCertIDv2 struct {
	CertHash     []byte
	IssuerSerial issuerSerial
}

type issuerSerial struct {
	Issuer []asn1.RawValue // GeneralNames with one directoryName
	Serial *big.Int
}

type signingCertificateV2 struct {
	Certs []essCertIDv2
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue // SET OF, pre-encoded
}

type signerInfo struct {
	Version         int
	SID             issuerAndSerial
	DigestAlgorithm pkix.AlgorithmIdentifier
	SignedAttrs     asn1.RawValue // [0] IMPLICIT
	SignatureAlg    pkix.AlgorithmIdentifier
	Signature       []byte
	UnsignedAttrs   asn1.RawValue `asn1:"optional"` // [1] IMPLICIT
}

type encapContentInfo struct {
	ContentType asn1.ObjectIdentifier
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue // [0] IMPLICIT SET OF Certificate
	SignerInfos      []signerInfo  `asn1:"set"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, encoded by hand: asn1 ignores tags on a RawValue
}

func setOf(elems ...[]byte) asn1.RawValue {
	// DER SET OF: elements sorted by their encodings.
	sorted := append([][]byte(nil), elems...)
	sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i], sorted[j]) < 0 })
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: bytes.Join(sorted, nil)}
}

func makeAttribute(typ asn1.ObjectIdentifier, value any) ([]byte, error) {
	v, err := asn1.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("encode attribute %v: %w", typ, err)
	}
	return asn1.Marshal(attribute{Type: typ, Values: setOf(v)})
}

// signedAttributes returns the DER SET of signed attributes, as hashed for the signature.
func signedAttributes(digest []byte, cert *x509.Certificate) ([]byte, error) {
	ct, err := makeAttribute(oidContentType, oidData)
	if err != nil {
		return nil, err
	}
	md, err := makeAttribute(oidMessageDigest, digest)
	if err != nil {
		return nil, err
	}
	certHash := sha256.Sum256(cert.Raw)
	dirName := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: cert.RawIssuer}
	scv2, err := makeAttribute(oidSigningCertV2, signingCertificateV2{Certs: []essCertIDv2{{
		CertHash:     certHash[:],
		IssuerSerial: issuerSerial{Issuer: []asn1.RawValue{dirName}, Serial: cert.SerialNumber},
	}}})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(setOf(ct, md, scv2))
}

func signatureAlgorithm(key crypto.Signer) (pkix.AlgorithmIdentifier, error) {
	switch key.Public().(type) {
	case *ecdsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256}, nil
	case *rsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1NULL}, nil
	}
	return pkix.AlgorithmIdentifier{}, fmt.Errorf("unsupported key type %T", key.Public())
}

// cmsSigner is a detached CMS SignedData under construction for one signer.
type cmsSigner struct {
	s           *Signer
	signedAttrs []byte // DER SET
	signature   []byte
}

func newCMS(s *Signer, digest []byte) (*cmsSigner, error) {
	attrs, err := signedAttributes(digest, s.Cert)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(attrs)
	sig, err := s.Key.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign attributes: %w", err)
	}
	return &cmsSigner{s: s, signedAttrs: attrs, signature: sig}, nil
}

// finish encodes the ContentInfo; tsToken, when given, becomes the signature time-stamp.
func (c *cmsSigner) finish(tsToken []byte) ([]byte, error) {
	sigAlg, err := signatureAlgorithm(c.s.Key)
	if err != nil {
		return nil, err
	}
	var attrs asn1.RawValue
	if _, err := asn1.Unmarshal(c.signedAttrs, &attrs); err != nil {
		return nil, err
	}
	si := signerInfo{
		Version:         1,
		SID:             issuerAndSerial{Issuer: asn1.RawValue{FullBytes: c.s.Cert.RawIssuer}, Serial: c.s.Cert.SerialNumber},
		DigestAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA256},
		SignedAttrs:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: attrs.Bytes},
		SignatureAlg:    sigAlg,
		Signature:       c.signature,
	}
	if len(tsToken) > 0 {
		a, err := asn1.Marshal(attribute{Type: oidTimeStampToken, Values: setOf(tsToken)})
		if err != nil {
			return nil, err
		}
		si.UnsignedAttrs = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: a}
	}
	var certs [][]byte
	certs = append(certs, c.s.Cert.Raw)
	for _, ch := range c.s.Chain {
		certs = append(certs, ch.Raw)
	}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{{Algorithm: oidSHA256}},
		EncapContentInfo: encapContentInfo{ContentType: oidData},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: bytes.Join(certs, nil)},
		SignerInfos:      []signerInfo{si},
	}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("encode SignedData: %w", err)
	}
	return asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
}
