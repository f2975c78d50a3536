package agentwire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func sampleResult(targets, samples int) *Result {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	r := &Result{TaskID: 12, Attempt: 2, AgentID: 7, Vantage: "bergen-bix", AgentVersion: "v1.2.3",
		Clock:    Clock{Source: "adjtimex", Synced: true, State: 0, Status: 0x2001, MaxErrorUS: 16000, EstErrorUS: 12},
		Measured: at}
	for i := range targets {
		m := Measurement{Target: fmt.Sprintf("t%04d", i), Address: fmt.Sprintf("198.18.%d.%d", i>>8, i&255), Kind: "icmp", Started: at}
		if i%3 == 1 {
			m.Kind, m.Port = "tcp", 443
		}
		for k := range samples {
			m.Samples = append(m.Samples, Sample{Seq: k, SentAt: at.UnixNano() + int64(k)*1e6, RTT: 2e6 + int64(i*7+k*13)%100*1e3,
				Received: true, Source: "kernel"})
		}
		r.Measurements = append(r.Measurements, m)
	}
	return r
}

func TestEncodeResultIsJSONMarshal(t *testing.T) {
	t.Parallel()
	odd := sampleResult(3, 2)
	odd.Vantage = "<oslo> & \"nix\"\u2028\x01æ\xff"
	odd.Clock.Err = "no adjtimex"
	odd.Measured = time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("", 3600))
	odd.Measurements[0].Failure, odd.Measurements[0].Err = "resolve", "lookup t0000: no such host"
	odd.Measurements[1].Samples = nil
	odd.Measurements[2].Samples = Samples{}
	odd.Measurements[2].Samples = append(odd.Measurements[2].Samples, Sample{Seq: 1, Dups: 2, SYNRetx: true, Failure: "timeout"},
		Sample{Seq: 2, Source: "wall<>"})
	for name, r := range map[string]*Result{"typical": sampleResult(20, 5), "odd": odd, "empty": {}, "no measurements": {Measurements: []Measurement{}}} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := EncodeResult(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
		back, err := DecodeResult(got)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var viaJSON Result
		if err := unmarshalStrict(got, &viaJSON); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, viaJSON) {
			t.Errorf("%s: DecodeResult\n%+v\nencoding/json\n%+v", name, back, viaJSON)
		}
		checkScan(t, got, back)
	}
	if _, err := EncodeResult(&Result{Measured: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("year 10000 encoded")
	}
}

// checkScan: ScanResult hands over what DecodeResult keeps, in order.
func checkScan(t *testing.T, b []byte, want Result) {
	t.Helper()
	var ms []Measurement
	r, err := ScanResult(b, func(i int, m *Measurement) error {
		if i != len(ms) {
			t.Fatalf("measurement %d handed over as %d", len(ms), i)
		}
		c := *m
		if m.Samples != nil {
			c.Samples = append(Samples{}, m.Samples...)
		}
		ms = append(ms, c)
		return nil
	})
	if err != nil {
		t.Fatalf("%q: DecodeResult took it, ScanResult: %v", b, err)
	}
	if want.Measurements != nil && ms == nil {
		ms = []Measurement{}
	}
	r.Measurements = ms
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("%q:\nScanResult   %+v\nDecodeResult %+v", b, r, want)
	}
}

func TestDecodeResultRefuses(t *testing.T) {
	t.Parallel()
	for _, s := range []string{``, `null`, `[]`, `{"task_id":1,"task_id":2}`, `{"TASK_ID":1}`, `{"bogus":1}`, `{"task_id":01}`,
		`{"task_id":1.5}`, `{"vantage":"a` + "\x01" + `"}`, `{"clock":{"bogus":1}}`, `{"clock":[]}`, `{"measured_at":"yesterday"}`,
		`{"measurements":[{"p":65536}]}`, `{"measurements":[{"p":-1}]}`, `{"measurements":[{"zz":1}]}`, `{"measurements":[{"x":[[1]]}]}`,
		`{} {}`, `{"task_id":1,}`, `{"measurements":[{"t":"a","t":"b"}]}`} {
		if r, err := DecodeResult([]byte(s)); err == nil {
			t.Errorf("%s: accepted as %+v", s, r)
		}
	}
}

// FuzzDecodeResult: what DecodeResult accepts, encoding/json (strict, as the server used to read a
// result) accepts too and reads the same; and it never panics.
func FuzzDecodeResult(f *testing.F) {
	b, _ := EncodeResult(sampleResult(2, 2))
	f.Add(b)
	f.Add([]byte(`{"task_id":1,"clock":{"source":"x","error":"\u00e6"},"measurements":[{"t":"a\"b","x":null,"p":80}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResult(b)
		if err != nil {
			return
		}
		var viaJSON Result
		if err := unmarshalStrict(b, &viaJSON); err != nil {
			t.Fatalf("%q: DecodeResult took it, encoding/json: %v", b, err)
		}
		if !reflect.DeepEqual(r, viaJSON) {
			t.Fatalf("%q:\nDecodeResult  %+v\nencoding/json %+v", b, r, viaJSON)
		}
		checkScan(t, b, r)
	})
}

// The benchmarks time one post of the bench's size (1,000 targets × 5 samples) each side:
// go test -bench . -benchmem ./agentwire
func BenchmarkResultEncode(b *testing.B) {
	r := sampleResult(1000, 5)
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(r)
		}
	})
	b.Run("EncodeResult", func(b *testing.B) {
		for b.Loop() {
			EncodeResult(r)
		}
	})
}

func BenchmarkResultDecode(b *testing.B) {
	body, _ := EncodeResult(sampleResult(1000, 5))
	b.SetBytes(int64(len(body)))
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var r Result
			if err := unmarshalStrict(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeResult", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeResult(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ScanResult", func(b *testing.B) {
		for b.Loop() {
			if _, err := ScanResult(body, func(int, *Measurement) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkResultVerify(b *testing.B) {
	pub, key, _ := ed25519.GenerateKey(nil)
	body, _ := EncodeResult(sampleResult(1000, 5))
	sig := SignResult(key, body)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if !VerifyResult(pub, body, sig) {
			b.Fatal("does not verify")
		}
	}
}
