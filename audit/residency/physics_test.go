package residency

import (
	"slices"
	"strings"
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
	}{
		{"NO, 2 ms from Oslo: the disc is Norway and Sweden", "NO", []RTTObservation{rtt(oslo, 2)}, PhysicsEndpointInQualifyingLand},
		{"NO, 3 ms from Oslo, plus a far vantage", "NO", []RTTObservation{rtt(ashburn, 80), rtt(oslo, 3)}, PhysicsEndpointInQualifyingLand},
		{"US, 3 ms from Oslo", "US", []RTTObservation{rtt(oslo, 3)}, PhysicsEndpointNotInClaim},
		{"DE, 3 ms from Oslo", "DE", []RTTObservation{rtt(oslo, 3)}, PhysicsEndpointNotInClaim},
		{"DE, 2 ms from Frankfurt: only BE, DE, FR, LU, NL", "DE", []RTTObservation{rtt(frankfurt, 2)}, PhysicsEndpointInQualifyingLand},
		{"DE, 12 ms from Oslo reaches Kaliningrad", "DE", []RTTObservation{rtt(oslo, 12)}, PhysicsEndpointNearClaim},
		{"US, 90 ms from Oslo", "US", []RTTObservation{rtt(oslo, 90)}, PhysicsUnverifiable},
		{"no RTT", "SE", nil, PhysicsUnverifiable},
		{"no reply", "SE", []RTTObservation{{Vantage: oslo}}, PhysicsUnverifiable},
		{"2 ms from Oslo and from Ashburn: anycast", "US", []RTTObservation{rtt(oslo, 2), rtt(ashburn, 2)}, PhysicsEndpointSeveralSites},
	} {
		got := ClassifyPhysics(r, g, tc.claimed, tc.rtts)
		if got.Class != tc.want {
			t.Errorf("%s: %s (%s); want %s", tc.name, got.Class, got.Message, tc.want)
		}
	}
}

// A disc is proven only while every country in it qualifies on the date: 12 ms from Oslo reaches Russia.
func TestPhysicsQualifyingLandNeedsWholeDisc(t *testing.T) {
	t.Parallel()
	g, _ := Countries()
	r := mustRules(t, "2025-09-30")
	p := ClassifyPhysics(r, g, "NO", []RTTObservation{rtt(oslo, 12)})
	if p.Class != PhysicsEndpointNearClaim || !slices.Contains(p.DiscCountries, "RU") {
		t.Errorf("NO, 12 ms from Oslo: %s %v, want consistent with RU in the disc", p.Class, p.DiscCountries)
	}
	// 5 ms from Oslo reaches the UK? No (Aberdeen is 804 km); it reaches DK, SE: proven.
	p = ClassifyPhysics(r, g, "SE", []RTTObservation{rtt(oslo, 5)})
	if p.Class != PhysicsEndpointInQualifyingLand {
		t.Errorf("SE, 5 ms from Oslo: %s (%s), want proven", p.Class, p.Message)
	}
}

// The bound is the speed of light, not fibre: 5 ms from Oslo is 775 km at c, which reaches Germany's
// coast (Oslo–Flensburg is about 590 km) although fibre's 100 km per ms would have excluded it.
func TestPhysicsUsesTheSpeedOfLight(t *testing.T) {
	t.Parallel()
	g, _ := Countries()
	r := mustRules(t, "2025-09-30")
	p := ClassifyPhysics(r, g, "DE", []RTTObservation{rtt(oslo, 5)})
	if p.Class == PhysicsEndpointNotInClaim || p.RadiusKm < 5*149 {
		t.Errorf("DE, 5 ms from Oslo: %s radius %.0f km (%s); the light bound reaches Germany", p.Class, p.RadiusKm, p.Message)
	}
	if !strings.Contains(p.Summary(), "endpoint within") || !strings.Contains(p.Message, "responding endpoint") {
		t.Errorf("summary %q message %q: want it named for the endpoint", p.Summary(), p.Message)
	}
}

// Several vantages intersect: a country stays only if every disc reaches it. 4 ms (625 km) from Oslo
// reaches Norway and Denmark; 4 ms from Frankfurt reaches Denmark but not Norway (Kristiansand is about
// 900 km away), so the intersection keeps Denmark and drops Norway.
func TestPhysicsIntersectsDiscs(t *testing.T) {
	t.Parallel()
	g, _ := Countries()
	r := mustRules(t, "2025-09-30")
	one := ClassifyPhysics(r, g, "DK", []RTTObservation{rtt(oslo, 4)})
	both := ClassifyPhysics(r, g, "DK", []RTTObservation{rtt(oslo, 4), rtt(frankfurt, 4)})
	if !slices.Contains(one.DiscCountries, "NO") || slices.Contains(both.DiscCountries, "NO") || !slices.Contains(both.DiscCountries, "DK") {
		t.Errorf("one disc %v, intersected %v", one.DiscCountries, both.DiscCountries)
	}
	for _, c := range both.DiscCountries {
		if !slices.Contains(one.DiscCountries, c) {
			t.Errorf("intersection %v has %s, which the Oslo disc %v does not", both.DiscCountries, c, one.DiscCountries)
		}
	}
	if len(both.Vantages) != 2 || !strings.Contains(both.Message, "intersected with the discs from fra-1") {
		t.Errorf("intersected: vantages %v, message %q", both.Vantages, both.Message)
	}
}
