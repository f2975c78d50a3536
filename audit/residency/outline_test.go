package residency

import "testing"

// Every country's label point lies in that country, and outlines keep each ring closed enough to draw.
func TestLabelPointInsideItsCountry(t *testing.T) {
	t.Parallel()
	g, err := Countries()
	if err != nil {
		t.Fatal(err)
	}
	outlines := g.Outlines(0.04)
	if len(outlines) < 200 {
		t.Fatalf("%d outlines", len(outlines))
	}
	for _, o := range outlines {
		if o.Code == "" {
			continue
		}
		lat, lon, ok := g.LabelPoint(o.Code)
		if !ok {
			t.Errorf("%s: no label point", o.Code)
			continue
		}
		if !inCountry(g, o.Code, lat, lon) {
			t.Errorf("%s: label point %.3f,%.3f is outside it", o.Code, lat, lon)
		}
		for _, p := range o.Polygons {
			for _, r := range p {
				if len(r) < 3 {
					t.Errorf("%s: a ring of %d points", o.Code, len(r))
				}
			}
		}
	}
	if _, _, ok := g.LabelPoint("XX"); ok {
		t.Error("a label point for an unknown code")
	}
}

// inCountry tests the country's own polygons (CountryAt answers with the first country that holds the
// point, and a ring across the antimeridian holds more than its land).
func inCountry(g *Geometry, code string, lat, lon float64) bool {
	for _, c := range g.countries {
		if c.code != code {
			continue
		}
		for i := range c.polys {
			if c.polys[i].contains(lat, lon) {
				return true
			}
		}
	}
	return false
}
