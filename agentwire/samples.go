package agentwire

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Samples is a measurement's samples. On the wire each is
//
//	[seq, sent_at_unix_ns, rtt_ns, kernel_rtt_ns, wall_rtt_ns, flags, duplicates, "source", "failure"]
//
// flags bit 0: received, bit 1: the SYN was retransmitted. The two strings are left off when both are
// empty, the second when it is. Encoding and decoding are by hand: reflection over 5,000 small objects
// per post was most of the server's CPU.
type Samples []Sample

const (
	flagReceived = 1 << iota
	flagSYNRetx
)

// MarshalJSON writes the compact form.
func (ss Samples) MarshalJSON() ([]byte, error) {
	return ss.appendJSON(make([]byte, 0, 48*len(ss)+2)), nil
}

func (ss Samples) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, x := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		flags := 0
		if x.Received {
			flags |= flagReceived
		}
		if x.SYNRetx {
			flags |= flagSYNRetx
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(x.Seq), 10)
		for _, v := range [...]int64{x.SentAt, x.RTT, x.KernelRTT, x.WallRTT, int64(flags), int64(x.Dups)} {
			b = append(b, ',')
			b = strconv.AppendInt(b, v, 10)
		}
		if x.Source != "" || x.Failure != "" {
			b = appendString(append(b, ','), x.Source)
			if x.Failure != "" {
				b = appendString(append(b, ','), x.Failure)
			}
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

var errSamples = errors.New("samples: want [[seq, sent_at, rtt, kernel_rtt, wall_rtt, flags, duplicates, \"source\", \"failure\"], ...]")

// UnmarshalJSON reads the compact form.
func (ss *Samples) UnmarshalJSON(b []byte) error {
	p := parser{b: b}
	out, err := p.samples()
	if err != nil {
		return err
	}
	*ss = out
	return p.end()
}

type parser struct {
	b    []byte
	i    int
	last string // the last plain string read: samples repeat their clock source thousands of times
	// reuse: samples() fills scratch again each time (ScanResult) rather than allocating.
	reuse   bool
	scratch Samples
}

func (p *parser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *parser) eat(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) null() bool {
	p.space()
	if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

func (p *parser) end() error {
	p.space()
	if p.i != len(p.b) {
		return errSamples
	}
	return nil
}

func (p *parser) int() (int64, bool) {
	p.space()
	neg := p.i < len(p.b) && p.b[p.i] == '-'
	if neg {
		p.i++
	}
	start := p.i
	if len(p.b)-p.i > 1 && p.b[p.i] == '0' && p.b[p.i+1] >= '0' && p.b[p.i+1] <= '9' {
		return 0, false // JSON has no leading zeros
	}
	var v uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		if p.i-start == 19 {
			return 0, false // 20 digits: beyond any int64
		}
		v = v*10 + uint64(p.b[p.i]-'0')
		p.i++
	}
	switch {
	case p.i == start:
		return 0, false
	case neg && v <= math.MaxInt64+1:
		return int64(-v), true
	case !neg && v <= math.MaxInt64:
		return int64(v), true
	}
	return 0, false
}

func (p *parser) str() (string, bool) {
	p.space()
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start := p.i
	plain := true
	for p.i++; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '\\':
			plain = false
			p.i++
		case c < 0x20:
			return "", false // JSON has no raw control characters in strings
		case c >= 0x80:
			plain = false
		case c == '"':
			p.i++
			if plain {
				if v := p.b[start+1 : p.i-1]; string(v) != p.last {
					p.last = string(v)
				}
				return p.last, true
			}
			var s string
			if err := json.Unmarshal(p.b[start:p.i], &s); err != nil {
				return "", false
			}
			return s, true
		}
	}
	return "", false
}

func (p *parser) sample(n int) (x Sample, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("sample %d: %w", n, errSamples)
		}
	}()
	bad := errSamples
	if !p.eat('[') {
		return Sample{}, bad
	}
	var v [7]int64
	for k := range v {
		if k > 0 && !p.eat(',') {
			return Sample{}, bad
		}
		var ok bool
		if v[k], ok = p.int(); !ok {
			return Sample{}, bad
		}
	}
	x = Sample{Seq: int(v[0]), SentAt: v[1], RTT: v[2], KernelRTT: v[3], WallRTT: v[4],
		Received: v[5]&flagReceived != 0, SYNRetx: v[5]&flagSYNRetx != 0, Dups: int(v[6])}
	if v[5]&^(flagReceived|flagSYNRetx) != 0 || v[6] < 0 {
		return Sample{}, bad
	}
	for _, dst := range []*string{&x.Source, &x.Failure} {
		if !p.eat(',') {
			break
		}
		s, ok := p.str()
		if !ok {
			return Sample{}, bad
		}
		*dst = s
	}
	if !p.eat(']') {
		return Sample{}, bad
	}
	return x, nil
}
