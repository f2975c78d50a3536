package residency

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseProbeRTT(t *testing.T) {
	t.Parallel()
	vs := map[string]Vantage{"oslo-nix-1": oslo}
	in := `{"vantage":"oslo-nix-1","address":"192.0.2.1","kind":"icmp","received":5,"min_ms":4.5}
{"vantage":"oslo-nix-1","address":"192.0.2.1","kind":"icmp","received":5,"min_ms":3.25}
{"vantage":"oslo-nix-1","address":"192.0.2.1","kind":"tcp","received":5,"min_ms":1.0}
{"vantage":"oslo-nix-1","address":"192.0.2.2","kind":"icmp","received":0,"min_ms":null}
`
	got, err := ParseProbeRTT("p.jsonl", strings.NewReader(in), vs)
	if err != nil {
		t.Fatal(err)
	}
	o := got[netip.MustParseAddr("192.0.2.1")]
	if len(o) != 1 || o[0].MinRTT != 3250*time.Microsecond || len(got) != 1 {
		t.Errorf("got %+v", got)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"vantage":"fra","address":"192.0.2.1","kind":"icmp","received":1,"min_ms":2}`, `p.jsonl:1: vantage "fra" has no coordinates`},
		{"\n{oops", "p.jsonl:2:"},
		{`{"vantage":"oslo-nix-1","address":"x","kind":"icmp","received":1,"min_ms":2}`, `p.jsonl:1: address "x"`},
	} {
		if _, err := ParseProbeRTT("p.jsonl", strings.NewReader(tc.in), vs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	if _, err := ParseVantage("oslo=95,10"); err == nil {
		t.Error("latitude 95 accepted")
	}
	if v, err := ParseVantage("oslo-nix-1=59.91,10.75"); err != nil || v != oslo {
		t.Errorf("ParseVantage = %+v, %v", v, err)
	}
}
