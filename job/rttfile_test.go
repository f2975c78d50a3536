package job

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/varde/varde/audit/residency"
)

func TestParseProbeRTT(t *testing.T) {
	t.Parallel()
	vs := map[string]residency.Vantage{"oslo-nix-1": {Name: "oslo-nix-1", Lat: 59.91, Lon: 10.75}}
	in := `{"vantage":"oslo-nix-1","address":"192.0.2.1","kind":"icmp","started":"2026-09-30T10:00:00Z","received":5,"min_ms":4.5}
{"vantage":"oslo-nix-1","address":"192.0.2.1","kind":"icmp","started":"2026-09-30T10:00:01Z","received":5,"min_ms":3.25}
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
		{`{"vantage":"oslo-nix-1","address":"192.0.2.1","kind":"icmp","started":"yesterday","received":1,"min_ms":2}`, `p.jsonl:1: started "yesterday"`},
	} {
		if _, err := ParseProbeRTT("p.jsonl", strings.NewReader(tc.in), vs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
}
