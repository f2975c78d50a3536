package agentwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// A result of 1,000 targets × 5 samples is about 300 kB of JSON, posted by every agent at once when an
// audit's tasks are leased together. encoding/json spends most of both sides' CPU on it: reflection
// and re-compacting the samples on the way out; on the way in, scanning every byte three times (the
// decoder's validity scan, skipping to an Unmarshaler's value, the Unmarshaler itself). EncodeResult
// and DecodeResult walk the body once. The body stays JSON, byte for byte what json.Marshal writes,
// so stored evidence reads with any JSON tool and the agent's signature covers the same bytes.

// EncodeResult writes r as json.Marshal(r) does, byte for byte.
func EncodeResult(r *Result) ([]byte, error) {
	n := 256
	for i := range r.Measurements {
		n += 96 + 52*len(r.Measurements[i].Samples) // a typical sample is about 50 bytes
	}
	b := make([]byte, 0, n)
	b = append(b, `{"task_id":`...)
	b = strconv.AppendInt(b, r.TaskID, 10)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(r.Attempt), 10)
	b = append(b, `,"agent_id":`...)
	b = strconv.AppendInt(b, r.AgentID, 10)
	b = append(b, `,"vantage":`...)
	b = appendString(b, r.Vantage)
	b = append(b, `,"agent_version":`...)
	b = appendString(b, r.AgentVersion)
	clock, err := json.Marshal(r.Clock) // small, and its own rules (omitempty) stay encoding/json's
	if err != nil {
		return nil, err
	}
	b = append(append(b, `,"clock":`...), clock...)
	b = append(b, `,"measured_at":`...)
	if b, err = appendTime(b, r.Measured); err != nil {
		return nil, err
	}
	b = append(b, `,"measurements":`...)
	if r.Measurements == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Measurements {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendMeasurement(b, &r.Measurements[i]); err != nil {
				return nil, fmt.Errorf("measurement %d: %w", i, err)
			}
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendMeasurement(b []byte, m *Measurement) ([]byte, error) {
	b = append(b, `{"t":`...)
	b = appendString(b, m.Target)
	if m.Address != "" {
		b = appendString(append(b, `,"a":`...), m.Address)
	}
	b = appendString(append(b, `,"k":`...), m.Kind)
	if m.Port != 0 {
		b = strconv.AppendUint(append(b, `,"p":`...), uint64(m.Port), 10)
	}
	b = append(b, `,"s":`...)
	b, err := appendTime(b, m.Started)
	if err != nil {
		return nil, err
	}
	if m.Failure != "" {
		b = appendString(append(b, `,"f":`...), m.Failure)
	}
	if m.Err != "" {
		b = appendString(append(b, `,"e":`...), m.Err)
	}
	b = m.Samples.appendJSON(append(b, `,"x":`...)) // nil too is [], as json.Marshal calls MarshalJSON
	return append(b, '}'), nil
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	b, err := t.AppendText(append(b, '"')) // MarshalJSON's RFC 3339, with its year-range check
	if err != nil {
		return nil, err
	}
	return append(b, '"'), nil
}

// appendString writes s as encoding/json does: plain printable ASCII as it is, anything else (quotes,
// escapes, HTML characters, control characters, non-ASCII) through encoding/json itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

var errResult = errors.New("result body")

// DecodeResult reads a result body as json.Decoder with DisallowUnknownFields would, in one pass. It
// accepts a subset of what encoding/json accepts (no duplicate or differently-cased keys, no null for a
// scalar, nothing after the object), and for what it accepts gives exactly encoding/json's value
// (FuzzDecodeResult), so a body it took reads the same to every later reader.
func DecodeResult(body []byte) (Result, error) { return scanResult(body, nil) }

// ScanResult reads body as DecodeResult does, but hands each measurement to each in turn instead of
// keeping it; m.Samples is only valid during the call. The returned Result has no Measurements. A
// server checks a post this way without holding its 5,000 samples: less to allocate and collect while
// the rest of a burst waits for the CPU.
func ScanResult(body []byte, each func(i int, m *Measurement) error) (Result, error) {
	if each == nil {
		return Result{}, errors.New("ScanResult: each is nil")
	}
	return scanResult(body, each)
}

func scanResult(body []byte, each func(i int, m *Measurement) error) (Result, error) {
	var r Result
	p := parser{b: body, reuse: each != nil}
	seen := map[string]bool{}
	err := p.object(func(key string) error {
		if seen[key] {
			return fmt.Errorf("%w: key %q twice", errResult, key)
		}
		seen[key] = true
		var ok bool
		switch key {
		case "task_id":
			r.TaskID, ok = p.int()
		case "attempt":
			var v int64
			v, ok = p.int()
			r.Attempt = int(v)
		case "agent_id":
			r.AgentID, ok = p.int()
		case "vantage":
			r.Vantage, ok = p.str()
		case "agent_version":
			r.AgentVersion, ok = p.str()
		case "clock":
			v, vok := p.value()
			if !vok || v[0] != '{' {
				return fmt.Errorf("%w: clock: want an object", errResult)
			}
			if err := unmarshalStrict(v, &r.Clock); err != nil {
				return fmt.Errorf("%w: clock: %w", errResult, err)
			}
			return nil
		case "measured_at":
			return p.time(&r.Measured, key)
		case "measurements":
			if p.null() {
				r.Measurements = nil
				return nil
			}
			if each == nil {
				r.Measurements = make([]Measurement, 0, 64)
			}
			return p.array(func(i int) error {
				var m Measurement
				if err := p.measurement(&m); err != nil {
					return fmt.Errorf("measurement %d: %w", i, err)
				}
				if each != nil {
					return each(i, &m)
				}
				r.Measurements = append(r.Measurements, m)
				return nil
			})
		default:
			return fmt.Errorf("%w: unknown field %q", errResult, key)
		}
		if !ok {
			return fmt.Errorf("%w: %s: bad value", errResult, key)
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	if p.end() != nil {
		return Result{}, fmt.Errorf("%w: data after the object", errResult)
	}
	return r, nil
}

func (p *parser) measurement(m *Measurement) error {
	var seen [8]bool
	keys := "takpsfex"
	return p.object(func(key string) error {
		k := -1
		if len(key) == 1 {
			for i := range len(keys) {
				if keys[i] == key[0] {
					k = i
				}
			}
		}
		if k < 0 {
			return fmt.Errorf("%w: unknown field %q", errResult, key)
		}
		if seen[k] {
			return fmt.Errorf("%w: key %q twice", errResult, key)
		}
		seen[k] = true
		var ok bool
		switch key {
		case "t":
			m.Target, ok = p.str()
		case "a":
			m.Address, ok = p.str()
		case "k":
			m.Kind, ok = p.str()
		case "p":
			var v int64
			v, ok = p.int()
			ok = ok && v >= 0 && v <= 65535
			m.Port = uint16(v)
		case "s":
			return p.time(&m.Started, key)
		case "f":
			m.Failure, ok = p.str()
		case "e":
			m.Err, ok = p.str()
		case "x":
			ss, err := p.samples()
			if err != nil {
				return err
			}
			m.Samples = ss
			return nil
		}
		if !ok {
			return fmt.Errorf("%w: %s: bad value", errResult, key)
		}
		return nil
	})
}

// object reads {"key": value, ...}, calling fn at each value.
func (p *parser) object(fn func(key string) error) error {
	if !p.eat('{') {
		return fmt.Errorf("%w: want an object", errResult)
	}
	if p.eat('}') {
		return nil
	}
	for {
		key, ok := p.str()
		if !ok || !p.eat(':') {
			return fmt.Errorf("%w: want \"key\": value", errResult)
		}
		if err := fn(key); err != nil {
			return err
		}
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return nil
		}
		return fmt.Errorf("%w: want , or } after %q", errResult, key)
	}
}

// array reads [value, ...], calling fn at each value.
func (p *parser) array(fn func(i int) error) error {
	if !p.eat('[') {
		return fmt.Errorf("%w: want an array", errResult)
	}
	if p.eat(']') {
		return nil
	}
	for i := 0; ; i++ {
		if err := fn(i); err != nil {
			return err
		}
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return nil
		}
		return fmt.Errorf("%w: want , or ] after element %d", errResult, i)
	}
}

// time reads a time-stamp string as time.Time's UnmarshalJSON does.
func (p *parser) time(t *time.Time, key string) error {
	p.space()
	start := p.i
	if _, ok := p.str(); !ok {
		return fmt.Errorf("%w: %s: want a time-stamp string", errResult, key)
	}
	if err := t.UnmarshalJSON(p.b[start:p.i]); err != nil {
		return fmt.Errorf("%w: %s: %w", errResult, key, err)
	}
	return nil
}

// value skips one JSON value and returns its bytes; the caller hands them to encoding/json, which
// checks them.
func (p *parser) value() ([]byte, bool) {
	p.space()
	start, depth := p.i, 0
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '"':
			if _, ok := p.str(); !ok {
				return nil, false
			}
			if depth == 0 {
				return p.b[start:p.i], true
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return nil, false
			}
			if depth == 0 {
				p.i++
				return p.b[start:p.i], true
			}
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				return p.b[start:p.i], p.i > start
			}
		}
		p.i++
	}
	return p.b[start:p.i], depth == 0 && p.i > start
}

// samples reads a measurement's samples where they stand (Samples.UnmarshalJSON, without the copy).
func (p *parser) samples() (Samples, error) {
	if p.null() {
		return nil, nil
	}
	if !p.eat('[') {
		return nil, errSamples
	}
	var out Samples
	if p.reuse {
		out = p.scratch[:0]
	} else {
		out = make(Samples, 0, 8)
	}
	defer func() {
		if p.reuse {
			p.scratch = out[:0]
		}
	}()
	if p.eat(']') {
		return out, nil
	}
	for {
		x, err := p.sample(len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, x)
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return out, nil
		}
		return nil, fmt.Errorf("sample %d: %w", len(out)-1, errSamples)
	}
}

func unmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the value")
	}
	return nil
}
