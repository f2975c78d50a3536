package sign

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
)

// Encrypted PKCS#8 (RFC 5958 / PKCS#5 PBES2) is what `openssl pkcs8 -topk8` and most tools write;
// the standard library cannot read it, so the one scheme in practical use is decoded here.

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

type encryptedPKCS8 struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLen     int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// maxPBKDF2Iterations is the most key derivation work an encrypted key file may ask for.
const maxPBKDF2Iterations = 2_000_000

func decryptPKCS8(der, password []byte) (any, error) {
	var ep encryptedPKCS8
	if _, err := asn1.Unmarshal(der, &ep); err != nil {
		return nil, fmt.Errorf("parse encrypted PKCS#8: %w", err)
	}
	if !ep.Algo.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("encrypted PKCS#8: unsupported scheme %v (want PBES2)", ep.Algo.Algorithm)
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(ep.Algo.Parameters.FullBytes, &p); err != nil {
		return nil, fmt.Errorf("encrypted PKCS#8: PBES2 parameters: %w", err)
	}
	if !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("encrypted PKCS#8: unsupported KDF %v (want PBKDF2)", p.KDF.Algorithm)
	}
	var kp pbkdf2Params
	if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil {
		return nil, fmt.Errorf("encrypted PKCS#8: PBKDF2 parameters: %w", err)
	}
	var prf func() hash.Hash
	switch {
	case len(kp.PRF.Algorithm) == 0 || kp.PRF.Algorithm.Equal(oidHMACSHA1):
		prf = sha1.New
	case kp.PRF.Algorithm.Equal(oidHMACSHA256):
		prf = sha256.New
	default:
		return nil, fmt.Errorf("encrypted PKCS#8: unsupported PRF %v", kp.PRF.Algorithm)
	}
	var keyLen int
	switch {
	case p.Enc.Algorithm.Equal(oidAES128CBC):
		keyLen = 16
	case p.Enc.Algorithm.Equal(oidAES192CBC):
		keyLen = 24
	case p.Enc.Algorithm.Equal(oidAES256CBC):
		keyLen = 32
	default:
		return nil, fmt.Errorf("encrypted PKCS#8: unsupported cipher %v (want AES-CBC)", p.Enc.Algorithm)
	}
	var iv []byte
	if _, err := asn1.Unmarshal(p.Enc.Parameters.FullBytes, &iv); err != nil || len(iv) != aes.BlockSize {
		return nil, errors.New("encrypted PKCS#8: bad AES IV")
	}
	// The iteration count comes from the file: bounded so a hostile key cannot make varde spin for hours
	// (OpenSSL writes 2048, current advice for SHA-256 is 600,000; 2,000,000 take about half a second).
	if kp.Iterations < 1 || kp.Iterations > maxPBKDF2Iterations {
		return nil, fmt.Errorf("encrypted PKCS#8: PBKDF2 iteration count %d is outside 1-%d", kp.Iterations, maxPBKDF2Iterations)
	}
	key, err := pbkdf2.Key(prf, string(password), kp.Salt, kp.Iterations, keyLen)
	if err != nil {
		return nil, fmt.Errorf("encrypted PKCS#8: derive key: %w", err)
	}
	if len(ep.Data) == 0 || len(ep.Data)%aes.BlockSize != 0 {
		return nil, errors.New("encrypted PKCS#8: ciphertext is not a whole number of blocks")
	}
	block, _ := aes.NewCipher(key)
	plain := make([]byte, len(ep.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ep.Data)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(plain) {
		return nil, errors.New("wrong password")
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, errors.New("wrong password")
		}
	}
	k, err := x509.ParsePKCS8PrivateKey(plain[:len(plain)-pad])
	if err != nil {
		return nil, errors.New("wrong password")
	}
	return k, nil
}

// encryptPKCS8 writes key as encrypted PKCS#8 (PBES2, PBKDF2-HMAC-SHA256 with 600,000
// iterations, AES-256-CBC), which `openssl pkey` and decryptPKCS8 read.
func encryptPKCS8(key any, password []byte) ([]byte, error) {
	plain, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	salt, iv := make([]byte, 16), make([]byte, aes.BlockSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	const iterations = 600_000
	k, err := pbkdf2.Key(sha256.New, string(password), salt, iterations, 32)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, _ := aes.NewCipher(k)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
	kdfParams, err := asn1.Marshal(pbkdf2Params{Salt: salt, Iterations: iterations, KeyLen: 32,
		PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: asn1NULL}})
	if err != nil {
		return nil, err
	}
	ivDER, _ := asn1.Marshal(iv)
	params, err := asn1.Marshal(pbes2Params{
		KDF: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}},
		Enc: pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(encryptedPKCS8{Algo: pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}}, Data: ct})
}
