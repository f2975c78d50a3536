// Package token owns the rules of varde's API tokens: their format (a recognisable prefix, 190 random
// bits and a checksum, so secret scanners can find a leaked token and a typo is refused without a
// database lookup), the digest that is all the database keeps, and the scopes a token may carry.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
	"slices"
	"strings"
)

// Prefix starts every varde token, as ghp_ starts a GitHub token.
const Prefix = "varde_"

const (
	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// secretLen base62 characters carry 32*log2(62) ≈ 190 random bits.
	secretLen = 32
	// sumLen base62 characters hold a CRC-32 (62^6 > 2^32).
	sumLen = 6
	// Len is the length of a token.
	Len = len(Prefix) + secretLen + sumLen
)

// Errors that Parse returns; both mean the string is no token varde made.
var (
	ErrFormat   = errors.New("not a varde token: want varde_ and 38 letters or digits")
	ErrChecksum = errors.New("not a varde token: its checksum does not match (a typo or a truncated copy)")
)

// New makes a token from rnd (crypto/rand.Reader when nil).
func New(rnd io.Reader) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var b strings.Builder
	b.Grow(Len)
	b.WriteString(Prefix)
	// Rejection sampling keeps every character uniform: bytes 248..255 would favour the first digits.
	buf := make([]byte, 64)
	for n := 0; n < secretLen; {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return "", fmt.Errorf("token: random bytes: %w", err)
		}
		for _, c := range buf {
			if c >= 248 || n == secretLen {
				continue
			}
			b.WriteByte(alphabet[c%62])
			n++
		}
	}
	b.WriteString(checksum(b.String()[len(Prefix):]))
	return b.String(), nil
}

// checksum is the CRC-32 (IEEE) of the secret part in base62, zero-padded to sumLen characters.
func checksum(secret string) string {
	v := big.NewInt(int64(crc32.ChecksumIEEE([]byte(secret))))
	s := v.Text(62)
	return strings.Repeat("0", sumLen-len(s)) + s
}

// Check reports whether s has a token's form and checksum. It says nothing of whether the token exists.
func Check(s string) error {
	if len(s) != Len || !strings.HasPrefix(s, Prefix) {
		return ErrFormat
	}
	body := s[len(Prefix):]
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(alphabet, body[i]) < 0 {
			return ErrFormat
		}
	}
	if checksum(body[:secretLen]) != body[secretLen:] {
		return ErrChecksum
	}
	return nil
}

// Digest is what the database keeps of a token: its SHA-256. The token itself is shown once, at creation.
func Digest(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// Scope is a permission a token carries.
type Scope string

// Scopes. Every API operation needs exactly one of them.
const (
	AuditsRead     Scope = "audits:read"     // read configs, schedules, audits and their evidence rows
	AuditsRun      Scope = "audits:run"      // start an audit now, upload guest snapshots
	SchedulesWrite Scope = "schedules:write" // upload configs, create and change schedules
	ReportsRead    Scope = "reports:read"    // download and verify signed reports
	EvidenceRead   Scope = "evidence:read"   // verify and export an audit's evidence chain
	TokensAdmin    Scope = "tokens:admin"    // create, list and revoke tokens
)

// All lists every scope, in a stable order.
func All() []Scope {
	return []Scope{AuditsRead, AuditsRun, SchedulesWrite, ReportsRead, EvidenceRead, TokensAdmin}
}

// Valid reports whether s is one of the scopes above.
func (s Scope) Valid() bool { return slices.Contains(All(), s) }

// ParseScopes checks a list of scope names, as given on a command line or in a request. It refuses an
// empty list, an unknown name and a repeated one.
func ParseScopes(names []string) ([]Scope, error) {
	if len(names) == 0 {
		return nil, errors.New("no scopes: a token needs at least one of " + Names(All()))
	}
	out := make([]Scope, 0, len(names))
	for _, n := range names {
		s := Scope(strings.TrimSpace(n))
		if !s.Valid() {
			return nil, fmt.Errorf("scope %q: want one of %s", n, Names(All()))
		}
		if slices.Contains(out, s) {
			return nil, fmt.Errorf("scope %q given twice", n)
		}
		out = append(out, s)
	}
	return out, nil
}

// Names joins scopes with commas.
func Names(ss []Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}
