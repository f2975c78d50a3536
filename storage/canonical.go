package storage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// The canonical encoding of an evidence row is JSON with sorted keys (encoding/json sorts map keys) over
// values normalised to what Postgres gives back: times in UTC at microsecond precision, bytes as hex,
// and JSON documents re-encoded from their parsed form so that jsonb's own key order and spacing do
// not matter. It names the table, audit and seq, so a row cannot be moved within or between chains.

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
// from Go or from a jsonb column.
func canonJSON(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("evidence JSON: %w", err)
	}
	return v, nil
}

// normJSON returns raw in its canonical encoding, the form that is stored.
func normJSON(raw json.RawMessage) (json.RawMessage, error) {
	v, err := canonJSON(raw)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func canonical(fields map[string]any) ([]byte, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("canonical encoding: %w", err)
	}
	return b, nil
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
