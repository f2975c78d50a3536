package agentwire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestSamplesRoundTrip(t *testing.T) {
	t.Parallel()
	in := Samples{
		{Seq: 0, SentAt: 1790000000123456789, RTT: 2013000, Received: true},
		{Seq: 1, SentAt: 1790000000223456789, RTT: 0, Failure: "timeout"},
		{Seq: 2, SentAt: -9223372036854775808, RTT: 3, KernelRTT: 4, WallRTT: 5, Received: true, Dups: 2, SYNRetx: true, Source: "kernel \"tcpi\""},
	}
	b, err := json.Marshal(struct {
		X Samples `json:"x"`
	}{in})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		X Samples `json:"x"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if !reflect.DeepEqual(in, out.X) {
		t.Errorf("round trip:\n%+v\n%+v\n%s", in, out.X, b)
	}
}

func TestSamplesRefused(t *testing.T) {
	t.Parallel()
	for _, s := range []string{`{}`, `[1]`, `[[1,2,3]]`, `[[1,2,3,4,5,6,7,8]]`, `[[1,2,3,4,5,4,0]]`, `[[1,2,3,4,5,1,-1]]`,
		`[[1,2,3,4,5,1,0,7]]`, `[[1,2,3,4,5,1,0,"a","b","c"]]`, `[[1.5,2,3,4,5,1,0]]`, `[[99999999999999999999,2,3,4,5,1,0]]`,
		`[[9999999999999999999,2,3,4,5,1,0]]`, `[[-9223372036854775809,2,3,4,5,1,0]]`} {
		var ss Samples
		if err := json.Unmarshal([]byte(s), &ss); err == nil {
			t.Errorf("%s: accepted as %+v", s, ss)
		} else if !strings.Contains(err.Error(), "samples") {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// FuzzSamples: whatever an agent sends, decoding neither panics nor accepts what it cannot write back.
func FuzzSamples(f *testing.F) {
	f.Add([]byte(`[[0,1,2,3,4,1,0],[1,2,3,4,5,0,0,"kernel","timeout"]]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ss Samples
		if json.Unmarshal(b, &ss) != nil {
			return
		}
		again, err := json.Marshal(ss)
		if err != nil {
			t.Fatal(err)
		}
		var back Samples
		if err := json.Unmarshal(again, &back); err != nil || !reflect.DeepEqual(back, ss) && !(len(ss) == 0 && len(back) == 0) {
			t.Fatalf("%s → %+v → %s → %+v %v", b, ss, again, back, err)
		}
	})
}
