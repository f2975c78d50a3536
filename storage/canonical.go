package storage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/gowebpki/jcs"
)

// The canonical encoding of an evidence row is a JSON object over values normalised to what Postgres
// gives back: times in UTC at microsecond precision (RFC 3339), bytes as hex, and JSON documents
// re-encoded from their parsed form so that jsonb's own key order and spacing do not matter. It names
// the table, audit and seq, so a row cannot be moved within or between chains.
//
// Each audit records its form (audits.canonical_form):
//   - FormGo (1), the first chains: encoding/json with sorted keys, HTML-escaped strings, and embedded
//     JSON numbers re-parsed as float64. Only Go's encoder reproduces it; kept so old chains verify.
//   - FormJCS (2): RFC 8785, the JSON Canonicalization Scheme, which any language can reproduce. Numbers
//     are IEEE 754 doubles there, so an integer beyond 2^53 cannot be kept exact: such a value is refused
//     when the row is stored instead of being rounded in its hash.

// Canonical forms of an audit's chain.
const (
	FormGo  = 1
	FormJCS = 2
)

// zeroHash is the prev_hash of an audit's first evidence row.
var zeroHash = make([]byte, sha256.Size)

// pgTime normalises t to what a timestamptz column stores.
func pgTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func canonTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return pgTime(t).Format(time.RFC3339Nano)
}

// canonJSON parses a JSON document and returns it as a value that encodes the same way whether it came
// from Go or from a jsonb column. FormGo parses numbers as float64, as the first chains did; FormJCS
// keeps each number's digits (JCS then writes it in its one canonical spelling).
func canonJSON(form int, raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	if form != FormGo {
		dec.UseNumber()
	}
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("evidence JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("evidence JSON: more than one value")
	}
	return v, nil
}

// normJSON returns raw as it is stored: parsed and re-encoded with every number's digits kept, after
// checking that JCS can hash it exactly.
func normJSON(raw json.RawMessage) (json.RawMessage, error) {
	v, err := canonJSON(FormJCS, raw)
	if err != nil {
		return nil, err
	}
	if err := exactNumbers(v, "$"); err != nil {
		return nil, err
	}
	return marshalNoHTML(v)
}

func marshalNoHTML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// maxExact is 2^53: every integer up to it in magnitude is an exact IEEE 754 double.
var maxExact = new(big.Int).Lsh(big.NewInt(1), 53)

// exactNumbers refuses an integer that RFC 8785's doubles would round, naming where it is.
func exactNumbers(v any, path string) error {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if err := exactNumbers(e, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := exactNumbers(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case json.Number:
		s := x.String()
		if strings.ContainsAny(s, ".eE") {
			return nil
		}
		n, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return fmt.Errorf("evidence JSON: %s: %q is not a number", path, s)
		}
		if n.CmpAbs(maxExact) > 0 {
			return fmt.Errorf("evidence JSON: %s: integer %s is beyond 2^53, which RFC 8785 cannot hash exactly; store it as a string", path, s)
		}
	case int64:
		if big.NewInt(x).CmpAbs(maxExact) > 0 {
			return fmt.Errorf("%s: integer %d is beyond 2^53, which RFC 8785 cannot hash exactly", path, x)
		}
	case int:
		return exactNumbers(int64(x), path)
	}
	return nil
}

// encode is a row's canonical encoding in the given form.
func encode(form int, fields map[string]any) ([]byte, error) {
	switch form {
	case FormGo:
		b, err := json.Marshal(fields)
		if err != nil {
			return nil, fmt.Errorf("canonical encoding: %w", err)
		}
		return b, nil
	case FormJCS:
		return JCS(fields)
	}
	return nil, fmt.Errorf("canonical form %d: want %d or %d", form, FormGo, FormJCS)
}

// JCS encodes v by RFC 8785. Integers beyond 2^53 are refused rather than rounded.
func JCS(v any) ([]byte, error) {
	b, err := marshalNoHTML(v)
	if err != nil {
		return nil, fmt.Errorf("canonical encoding: %w", err)
	}
	// Check the numbers as the JSON text spells them, whatever Go type carried them.
	parsed, err := canonJSON(FormJCS, b)
	if err != nil {
		return nil, fmt.Errorf("canonical encoding: %w", err)
	}
	if err := exactNumbers(parsed, "$"); err != nil {
		return nil, fmt.Errorf("canonical encoding: %w", err)
	}
	out, err := jcs.Transform(b)
	if err != nil {
		return nil, fmt.Errorf("canonical encoding (RFC 8785): %w", err)
	}
	return out, nil
}

// chainHash is sha256(prev_hash || canonical(row)).
func chainHash(prev, canon []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(canon)
	return h.Sum(nil)
}

// samplesDigest is sha256 over a fixed-width encoding of the samples in order: idx, sent_at (unix µs),
// rtt_ns (-1 when no reply), kernel_rtt_ns (-1 when absent), duplicate, retransmits.
func samplesDigest(samples []Sample) []byte {
	h := sha256.New()
	var buf [8*4 + 1 + 4]byte
	for _, s := range samples {
		rtt, krtt := int64(-1), int64(-1)
		if s.Received {
			rtt = int64(s.RTT)
		}
		if s.KernelRTT > 0 {
			krtt = int64(s.KernelRTT)
		}
		binary.BigEndian.PutUint64(buf[0:], uint64(s.Idx))
		binary.BigEndian.PutUint64(buf[8:], uint64(pgTime(s.SentAt).UnixMicro()))
		binary.BigEndian.PutUint64(buf[16:], uint64(rtt))
		binary.BigEndian.PutUint64(buf[24:], uint64(krtt))
		buf[32] = 0
		if s.Duplicate {
			buf[32] = 1
		}
		binary.BigEndian.PutUint32(buf[33:], uint32(s.Retransmits))
		h.Write(buf[:])
	}
	return h.Sum(nil)
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }
