package residency

import (
	"slices"
	"testing"
	"time"
)

var (
	oslo      = Vantage{Name: "oslo-nix-1", Lat: 59.91, Lon: 10.75}
	frankfurt = Vantage{Name: "fra-1", Lat: 50.11, Lon: 8.68}
	ashburn   = Vantage{Name: "iad-1", Lat: 39.04, Lon: -77.49}
)

func rtt(v Vantage, ms float64) RTTObservation {
	return RTTObservation{Vantage: v, MinRTT: time.Duration(ms * float64(time.Millisecond)), Received: 5}
}

func TestClassifyPhysics(t *testing.T) {
	t.Parallel()
	g, err := Countries()
	if err != nil {
		t.Fatal(err)
	}
	r := mustRules(t, "2025-09-30")
	for _, tc := range []struct {
		name    string
		claimed string
		rtts    []RTTObservation
		want    PhysicsClass
		split   bool
	}{
		{"NO, 2 ms from Oslo: the disc is Norway and Sweden", "NO", []RTTObservation{rtt(oslo, 2)}, PhysicsProven, false},
		{"NO, 3 ms from Oslo, plus a far vantage", "NO", []RTTObservation{rtt(ashburn, 80), rtt(oslo, 3)}, PhysicsProven, false},
		{"US, 3 ms from Oslo", "US", []RTTObservation{rtt(oslo, 3)}, PhysicsContradicted, false},
		{"DE, 3 ms from Oslo", "DE", []RTTObservation{rtt(oslo, 3)}, PhysicsContradicted, false},
		{"DE, 2 ms from Frankfurt: only BE, DE, FR, LU, NL", "DE", []RTTObservation{rtt(frankfurt, 2)}, PhysicsProven, false},
		{"DE, 12 ms from Oslo reaches Kaliningrad", "DE", []RTTObservation{rtt(oslo, 12)}, PhysicsConsistent, false},
		{"US, 90 ms from Oslo", "US", []RTTObservation{rtt(oslo, 90)}, PhysicsUnverifiable, false},
		{"no RTT", "SE", nil, PhysicsUnverifiable, false},
		{"no reply", "SE", []RTTObservation{{Vantage: oslo}}, PhysicsUnverifiable, false},
		{"2 ms from Oslo and from Ashburn: anycast", "US", []RTTObservation{rtt(oslo, 2), rtt(ashburn, 2)}, PhysicsContradicted, true},
	} {
		got := ClassifyPhysics(r, g, tc.claimed, tc.rtts)
		if got.Class != tc.want || got.SplitSites != tc.split {
			t.Errorf("%s: %s split=%v (%s); want %s split=%v", tc.name, got.Class, got.SplitSites, got.Message, tc.want, tc.split)
		}
	}
}

// A disc is proven only while every country in it qualifies on the date: 12 ms from Oslo reaches Russia.
func TestPhysicsProvenNeedsWholeDisc(t *testing.T) {
	t.Parallel()
	g, _ := Countries()
	r := mustRules(t, "2025-09-30")
	p := ClassifyPhysics(r, g, "NO", []RTTObservation{rtt(oslo, 12)})
	if p.Class != PhysicsConsistent || !slices.Contains(p.DiscCountries, "RU") {
		t.Errorf("NO, 12 ms from Oslo: %s %v, want consistent with RU in the disc", p.Class, p.DiscCountries)
	}
	// 5 ms from Oslo reaches the UK? No (Aberdeen is 804 km); it reaches DK, SE: proven.
	p = ClassifyPhysics(r, g, "SE", []RTTObservation{rtt(oslo, 5)})
	if p.Class != PhysicsProven {
		t.Errorf("SE, 5 ms from Oslo: %s (%s), want proven", p.Class, p.Message)
	}
}
