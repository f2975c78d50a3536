package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/varde/varde"
)

// Signer is the key material a report is signed with.
type Signer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain holds the issuers of Cert, its direct issuer first; it is embedded in the CMS so
	// verifiers can build the path to their trusted root.
	Chain []*x509.Certificate
	// Fingerprint is the lowercase hex SHA-256 of Cert.Raw; the audit record stores it.
	Fingerprint string
}

// NewSigner checks that key belongs to cert and fills in the fingerprint.
func NewSigner(cert *x509.Certificate, key crypto.Signer, chain []*x509.Certificate) (*Signer, error) {
	if cert == nil {
		return nil, errors.New("signer: no certificate")
	}
	if key == nil {
		return nil, errors.New("signer: no private key")
	}
	if err := keyMatches(cert, key); err != nil {
		return nil, err
	}
	switch key.Public().(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
	default:
		return nil, fmt.Errorf("signer: unsupported key type %T (want ECDSA or RSA)", key.Public())
	}
	sum := sha256.Sum256(cert.Raw)
	return &Signer{Cert: cert, Key: key, Chain: chain, Fingerprint: hex.EncodeToString(sum[:])}, nil
}

func keyMatches(cert *x509.Certificate, key crypto.Signer) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok || !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("certificate %q does not match the private key", cert.Subject.String())
	}
	return nil
}

// Load reads a signer from a PKCS#12 file (.p12, .pfx; keyPath empty) or from PEM files.
func Load(path, keyPath string, password []byte) (*Signer, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if keyPath == "" && (ext == ".p12" || ext == ".pfx") {
		return LoadPKCS12(path, string(password))
	}
	if keyPath == "" {
		keyPath = path // a single PEM file with certificate(s) and key
	}
	return LoadPEM(path, keyPath, password)
}

// LoadPEM reads the signing certificate (followed by its chain, if any) from certPath and the
// private key from keyPath: PKCS#8 (encrypted with password when given), PKCS#1 or SEC1.
func LoadPEM(certPath, keyPath string, password []byte) (*Signer, error) {
	certPEM, err := varde.ReadFile(certPath, keyFileLimit)
	if err != nil {
		return nil, fmt.Errorf("certificate file: %w", err)
	}
	var certs []*x509.Certificate
	rest := certPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", certPath, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block found", certPath)
	}
	keyPEM, err := varde.ReadFile(keyPath, keyFileLimit)
	if err != nil {
		return nil, fmt.Errorf("private key file: %w", err)
	}
	key, err := parsePEMKey(keyPEM, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	s, err := NewSigner(certs[0], key, certs[1:])
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", certPath, keyPath, err)
	}
	return s, nil
}

func parsePEMKey(data, password []byte) (crypto.Signer, error) {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key block found")
		}
		var key any
		var err error
		switch b.Type {
		case "ENCRYPTED PRIVATE KEY":
			if len(password) == 0 {
				return nil, errors.New("private key is encrypted and no password was given")
			}
			key, err = decryptPKCS8(b.Bytes, password)
			if err != nil {
				return nil, fmt.Errorf("decrypt private key (wrong password?): %w", err)
			}
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", b.Type, err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		return s, nil
	}
}

// LoadPKCS12 reads key, certificate and chain from a PKCS#12 file.
func LoadPKCS12(path string, password string) (*Signer, error) {
	data, err := varde.ReadFile(path, keyFileLimit)
	if err != nil {
		return nil, fmt.Errorf("PKCS#12 file: %w", err)
	}
	key, cert, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, fmt.Errorf("%s: wrong password: %w", path, err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ks, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: unsupported private key type %T", path, key)
	}
	s, err := NewSigner(cert, ks, chain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// LoadCertPool reads every PEM certificate in path into a pool of trusted roots.
func LoadCertPool(path string) (*x509.CertPool, error) {
	data, err := varde.ReadFile(path, caFileLimit)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return pool, nil
}

// KeysConfig says how InitKeys makes the CA and signing certificate.
type KeysConfig struct {
	// Organization goes into both subjects; default "varde".
	Organization string
	// Now is the clock for validity periods; default time.Now.
	Now func() time.Time
	// Validity of the signing certificate; default 5 years. The CA gets twice as long.
	Validity time.Duration
	// CRLURL, when set, is put into the signing certificate as its CRL distribution point.
	CRLURL string
	// OCSPURL, when set, is put into the signing certificate's authority information access.
	OCSPURL string
	// RSA makes RSA 3072 keys instead of ECDSA P-256.
	RSA bool
	// CADir is where the CA's private key goes; default the signing key directory with "-ca"
	// appended. A host that signs reports needs the signing key, never the key that can issue
	// more signing certificates, so the two never share a directory.
	CADir string
	// CAKeyPassword, when set, encrypts the CA key (PKCS#8, PBES2 AES-256).
	CAKeyPassword []byte
}

func (c KeysConfig) withDefaults() KeysConfig {
	if c.Organization == "" {
		c.Organization = "varde"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Validity == 0 {
		c.Validity = 5 * 365 * 24 * time.Hour
	}
	return c
}

// Key file names written by InitKeys.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	SignerFile    = "signer.pem"
	SignerKeyFile = "signer-key.pem"
)

// Validate reports settings InitKeys cannot use; dir is the signing key directory.
func (c KeysConfig) Validate(dir string) error {
	if c.Validity < 0 {
		return fmt.Errorf("keys config: negative validity %s", c.Validity)
	}
	a, err1 := filepath.Abs(dir)
	b, err2 := filepath.Abs(c.CADir)
	if err1 == nil && err2 == nil && a == b {
		return fmt.Errorf("keys config: the CA key directory %s is the signing key directory", c.CADir)
	}
	return nil
}

// InitKeys makes a self-signed CA and a signing certificate issued by it. It writes ca.pem,
// signer.pem (signer then CA) and signer-key.pem into dir, and the CA's key, ca-key.pem,
// into cfg.CADir (encrypted when cfg.CAKeyPassword is set); keys are 0600, directories 0700.
// Existing files are not overwritten.
func InitKeys(ctx context.Context, dir string, cfg KeysConfig) (*Signer, error) {
	cfg = cfg.withDefaults()
	if cfg.CADir == "" {
		cfg.CADir = filepath.Clean(dir) + "-ca"
	}
	if err := cfg.Validate(dir); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, p := range []string{filepath.Join(dir, CAFile), filepath.Join(cfg.CADir, CAKeyFile), filepath.Join(dir, SignerFile), filepath.Join(dir, SignerKeyFile)} {
		if _, err := os.Stat(p); err == nil {
			return nil, fmt.Errorf("%s already exists; refusing to overwrite keys", p)
		}
	}
	for _, d := range []string{dir, cfg.CADir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("keys dir: %w", err)
		}
	}
	ca, caKey, err := NewCA(cfg)
	if err != nil {
		return nil, err
	}
	s, err := NewLeaf(ca, caKey, cfg)
	if err != nil {
		return nil, err
	}
	caKeyBlock := &pem.Block{Type: "PRIVATE KEY"}
	if len(cfg.CAKeyPassword) > 0 {
		caKeyBlock.Type = "ENCRYPTED PRIVATE KEY"
		caKeyBlock.Bytes, err = encryptPKCS8(caKey, cfg.CAKeyPassword)
	} else {
		caKeyBlock.Bytes, err = x509.MarshalPKCS8PrivateKey(caKey)
	}
	if err != nil {
		return nil, fmt.Errorf("encode CA key: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(s.Key)
	if err != nil {
		return nil, fmt.Errorf("encode signer key: %w", err)
	}
	var chain bytes.Buffer
	_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: s.Cert.Raw})
	_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	files := []struct {
		path string
		data []byte
	}{
		{filepath.Join(dir, CAFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})},
		{filepath.Join(cfg.CADir, CAKeyFile), pem.EncodeToMemory(caKeyBlock)},
		{filepath.Join(dir, SignerFile), chain.Bytes()},
		{filepath.Join(dir, SignerKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})},
	}
	for _, f := range files {
		p := f.path
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
	}
	return s, nil
}

func newKey(cfg KeysConfig) (crypto.Signer, error) {
	if cfg.RSA {
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// NewCA makes a self-signed CA certificate and key (not written anywhere).
func NewCA(cfg KeysConfig) (*x509.Certificate, crypto.Signer, error) {
	cfg = cfg.withDefaults()
	key, err := newKey(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	now := cfg.Now().UTC()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{Organization: []string{cfg.Organization}, CommonName: cfg.Organization + " report CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(2 * cfg.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// NewLeaf makes a signing certificate issued by ca (not written anywhere).
func NewLeaf(ca *x509.Certificate, caKey crypto.Signer, cfg KeysConfig) (*Signer, error) {
	cfg = cfg.withDefaults()
	key, err := newKey(cfg)
	if err != nil {
		return nil, fmt.Errorf("generate signer key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := cfg.Now().UTC()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{Organization: []string{cfg.Organization}, CommonName: cfg.Organization + " report signer"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(cfg.Validity),
		// Non-repudiation (content commitment) is what PDF validators look for on document signers.
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
	}
	if cfg.CRLURL != "" {
		tmpl.CRLDistributionPoints = []string{cfg.CRLURL}
	}
	if cfg.OCSPURL != "" {
		tmpl.OCSPServer = []string{cfg.OCSPURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("create signer certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return NewSigner(cert, key, []*x509.Certificate{ca})
}

// AddCertsFromFile adds every PEM certificate in path to pool.
func AddCertsFromFile(pool *x509.CertPool, path string) error {
	data, err := varde.ReadFile(path, caFileLimit)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(data) {
		return fmt.Errorf("%s: no PEM certificate found", path)
	}
	return nil
}

// LoadCRL reads a CRL in DER or PEM.
func LoadCRL(path string) (*x509.RevocationList, error) {
	data, err := varde.ReadFile(path, revocationLimit)
	if err != nil {
		return nil, fmt.Errorf("CRL file: %w", err)
	}
	if b, _ := pem.Decode(data); b != nil {
		data = b.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return crl, nil
}

// LoadOCSP reads a DER OCSP response; it is checked against each certificate when verifying.
func LoadOCSP(path string) ([]byte, error) {
	data, err := varde.ReadFile(path, revocationLimit)
	if err != nil {
		return nil, fmt.Errorf("OCSP response file: %w", err)
	}
	if _, err := ocsp.ParseResponse(data, nil); err != nil {
		return nil, fmt.Errorf("%s: not an OCSP response: %w", path, err)
	}
	return data, nil
}
