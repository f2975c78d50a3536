package residency

import (
	"slices"
	"testing"
)

func TestCountryAt(t *testing.T) {
	t.Parallel()
	g, err := Countries()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		lat, lon float64
		want     string
		land     bool
	}{
		{"Oslo", 59.91, 10.75, "NO", true},
		{"Västerås", 59.61, 16.55, "SE", true},
		{"Frankfurt", 50.11, 8.68, "DE", true},
		{"Ashburn", 39.04, -77.49, "US", true},
		{"Vaduz", 47.14, 9.52, "LI", true},
		{"Monaco (as generalised at 1:50m)", 43.755, 7.41, "MC", true},
		{"Skagerrak", 58.0, 9.0, "", false},
		{"Pristina", 42.66, 21.16, "XK", true},
		{"Cayenne (French Guiana is France)", 4.6, -52.5, "FR", true},
		// Russia's main ring crosses the antimeridian at Chukotka; read in lon/lat its crossing edges once
		// made every point at those latitudes, here northern Sweden, Russian.
		{"Kiruna region", 66.755, 19.895, "SE", true},
		{"Rovaniemi", 66.50, 25.73, "FI", true},
		{"Chukotka west of the antimeridian", 66.0, 172.0, "RU", true},
		{"Chukotka east of the antimeridian", 66.0, -173.0, "RU", true},
		{"Fairbanks", 64.84, -147.72, "US", true},
	} {
		got, land := g.CountryAt(tc.lat, tc.lon)
		if got != tc.want || land != tc.land {
			t.Errorf("%s: CountryAt = %q,%v; want %q,%v", tc.name, got, land, tc.want, tc.land)
		}
	}
}

func TestCountriesInDisc(t *testing.T) {
	t.Parallel()
	g, err := Countries()
	if err != nil {
		t.Fatal(err)
	}
	// 300 km around Oslo reaches Sweden and (across the Skagerrak) Denmark, not the UK or Germany.
	got := g.CountriesInDisc(59.91, 10.75, 300)
	if !slices.Contains(got, "NO") || !slices.Contains(got, "SE") || !slices.Contains(got, "DK") {
		t.Errorf("300 km around Oslo: %v, want NO, SE and DK", got)
	}
	if slices.Contains(got, "GB") || slices.Contains(got, "DE") {
		t.Errorf("300 km around Oslo: %v, must not reach GB or DE", got)
	}
	// Monaco is a small polygon with no sample point needed: 5 km from Nice's centre must catch it.
	got = g.CountriesInDisc(43.70, 7.27, 15)
	if !slices.Contains(got, "MC") {
		t.Errorf("15 km around Nice: %v, want MC", got)
	}
	// 30 km around a point in northern Sweden is Sweden alone (it once also named Russia).
	if got := g.CountriesInDisc(66.755, 19.895, 30); !slices.Equal(got, []string{"SE"}) {
		t.Errorf("30 km in northern Sweden: %v, want [SE]", got)
	}
	if got := g.CountriesInDisc(66.0, -173.0, 50); !slices.Contains(got, "RU") {
		t.Errorf("50 km around eastern Chukotka: %v, want RU", got)
	}
	if d := GreatCircleKm(59.91, 10.75, 57.15, -2.09); d < 790 || d > 815 {
		t.Errorf("Oslo-Aberdeen = %.0f km, want ~804", d)
	}
}
