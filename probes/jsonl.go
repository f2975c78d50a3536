package probes

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Line is one probe result in the JSON-lines form `varde probe --json` writes and `varde residency --rtt`
// reads: one JSON object per line, per target and probe kind. This type is the schema:
//
//	vantage      string   the vantage the probe ran from
//	target       string   the target as given
//	address      string   the address probed ("" when it did not resolve)
//	kind         string   "icmp" or "tcp"
//	port         int      TCP port, 0 for ICMP
//	started      string   RFC 3339 (nanoseconds, UTC) time of the first probe; "" when none was sent
//	failure      string   "" when the probe worked, else a Failure word
//	error        string   the failure's detail
//	sent, received, duplicates int; errors int (omitted when 0): samples lost to a measurement error ("error"
//	             or "overflow": the prober's receive buffer dropped the reply), not counted as loss;
//	             loss_pct float (0..100): the share of the other samples that got no reply
//	min_ms, median_ms, mean_ms, p95_ms, max_ms, mdev_ms, jitter_ms
//	             float or null: milliseconds, rounded to the microsecond; null when nothing was received
//	samples      array of {seq, sent_at, rtt_ms, received, duplicate, failure, rtt_source, kernel_rtt_ms
//	             (TCP), syn_retrans (TCP), wall_rtt_ms (TCP)}; rtt_source says which clock gave rtt_ms:
//	             "kernel" (TCP: the kernel's SYN → SYN-ACK sample) or "wall" (a retransmitted SYN, or ICMP
//	             timed in user space); wall_rtt_ms is the connect() wall time kept beside the kernel's
type Line struct {
	Vantage    string       `json:"vantage"`
	Target     string       `json:"target"`
	Address    string       `json:"address"`
	Kind       string       `json:"kind"`
	Port       int          `json:"port"`
	Started    string       `json:"started"`
	Failure    string       `json:"failure"`
	Error      string       `json:"error"`
	Sent       int          `json:"sent"`
	Received   int          `json:"received"`
	Duplicates int          `json:"duplicates"`
	Errors     int          `json:"errors,omitempty"`
	LossPct    float64      `json:"loss_pct"`
	MinMS      *float64     `json:"min_ms"`
	MedianMS   *float64     `json:"median_ms"`
	MeanMS     *float64     `json:"mean_ms"`
	P95MS      *float64     `json:"p95_ms"`
	MaxMS      *float64     `json:"max_ms"`
	MdevMS     *float64     `json:"mdev_ms"`
	JitterMS   *float64     `json:"jitter_ms"`
	Samples    []LineSample `json:"samples"`
}

// LineSample is one echo or handshake of a Line.
type LineSample struct {
	Seq         int      `json:"seq"`
	SentAt      string   `json:"sent_at"`
	RTTMS       float64  `json:"rtt_ms"`
	Received    bool     `json:"received"`
	Duplicate   int      `json:"duplicate"`
	Failure     string   `json:"failure"`
	KernelRTTMS *float64 `json:"kernel_rtt_ms,omitempty"`
	SYNRetrans  *bool    `json:"syn_retrans,omitempty"`
	RTTSource   string   `json:"rtt_source,omitempty"`
	WallRTTMS   *float64 `json:"wall_rtt_ms,omitempty"`
}

// Ms is d in milliseconds, rounded to the microsecond, as the JSON lines and tables print it.
func Ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func msPtr(d time.Duration, ok bool) *float64 {
	if !ok {
		return nil
	}
	v := Ms(d)
	return &v
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// LineOf is the JSON-lines form of r.
func LineOf(r Result) Line {
	ok := r.Stats.Received > 0
	addr := ""
	if r.Address.IsValid() {
		addr = r.Address.String()
	}
	l := Line{
		Vantage: r.Vantage, Target: r.Target, Address: addr, Kind: string(r.Kind), Port: int(r.Port),
		Started: rfc3339(r.Started), Failure: string(r.Failure), Error: r.Err,
		Sent: r.Stats.Sent, Received: r.Stats.Received, Duplicates: r.Stats.Duplicates, Errors: r.Stats.Errors,
		LossPct: r.Stats.LossPct,
		MinMS:   msPtr(r.Stats.Min, ok), MedianMS: msPtr(r.Stats.Median, ok), MeanMS: msPtr(r.Stats.Mean, ok),
		P95MS: msPtr(r.Stats.P95, ok), MaxMS: msPtr(r.Stats.Max, ok), MdevMS: msPtr(r.Stats.Mdev, ok),
		JitterMS: msPtr(r.Stats.Jitter, ok), Samples: []LineSample{},
	}
	for _, s := range r.Samples {
		ls := LineSample{Seq: s.Seq, SentAt: rfc3339(s.SentAt), RTTMS: Ms(s.RTT), Received: s.Received,
			Duplicate: s.Duplicates, Failure: string(s.Failure), RTTSource: string(s.RTTSource)}
		if r.Kind == KindTCP {
			ls.WallRTTMS = msPtr(s.WallRTT, s.Received)
			ls.KernelRTTMS = msPtr(s.KernelRTT, true)
			retrans := s.SYNRetransmitted
			ls.SYNRetrans = &retrans
		}
		l.Samples = append(l.Samples, ls)
	}
	return l
}

// WriteJSONLines writes one Line per result, buffered (a line per write cost a system call per target).
func WriteJSONLines(w io.Writer, rs []Result) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	for _, r := range rs {
		if err := enc.Encode(LineOf(r)); err != nil {
			return fmt.Errorf("write probe JSON: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write probe JSON: %w", err)
	}
	return nil
}

// ReadJSONLines reads Lines from r and calls fn with each and its line number; blank lines are skipped.
// name is used in errors, which name the line: "name:3: ...".
func ReadJSONLines(name string, r io.Reader, fn func(n int, l Line) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var l Line
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if err := fn(n, l); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
