package residency

import "math"

// Outline is one country's boundary for drawing (the web console's residency map): polygons of rings of
// [lon, lat] points in degrees, the first ring of each polygon its outer edge.
type Outline struct {
	Code     string
	Polygons [][][][2]float64
}

// Outlines returns every country of the set for drawing, with rings thinned so that consecutive points
// are at least minDeg apart (0 keeps every point).
func (g *Geometry) Outlines(minDeg float64) []Outline {
	out := make([]Outline, 0, len(g.countries))
	for _, c := range g.countries {
		o := Outline{Code: c.code}
		for _, p := range c.polys {
			var poly [][][2]float64
			for _, r := range p.rings {
				pts := make([][2]float64, 0, len(r.lon))
				for k := range r.lon {
					if n := len(pts); n > 0 && k < len(r.lon)-1 &&
						math.Abs(r.lon[k]-pts[n-1][0]) < minDeg && math.Abs(r.lat[k]-pts[n-1][1]) < minDeg {
						continue
					}
					pts = append(pts, [2]float64{r.lon[k], r.lat[k]})
				}
				if len(pts) >= 3 {
					poly = append(poly, pts)
				}
			}
			if len(poly) > 0 {
				o.Polygons = append(o.Polygons, poly)
			}
		}
		out = append(out, o)
	}
	return out
}

// LabelPoint is a point inside the country to mark it by: the centre of the bounding box of its largest
// polygon (by box area), moved to a point of that polygon when the centre falls outside it.
func (g *Geometry) LabelPoint(code string) (lat, lon float64, ok bool) {
	for _, c := range g.countries {
		if c.code != code || len(c.polys) == 0 {
			continue
		}
		best := 0
		area := func(p *polygon) float64 { return (p.maxLon - p.minLon) * (p.maxLat - p.minLat) }
		for i := range c.polys {
			if area(&c.polys[i]) > area(&c.polys[best]) {
				best = i
			}
		}
		p := &c.polys[best]
		lat, lon = (p.minLat+p.maxLat)/2, (p.minLon+p.maxLon)/2
		if p.contains(lat, lon) {
			return lat, lon, true
		}
		// Scan a few latitudes across the polygon for the widest run of longitudes inside it.
		const steps = 200
		step := (p.maxLon - p.minLon) / steps
		bestLen, found := 0, false
		for j := 1; j < 12; j++ {
			la := p.minLat + (p.maxLat-p.minLat)*float64(j)/12
			runStart := -1
			for i := 0; i <= steps; i++ {
				if !p.contains(la, p.minLon+float64(i)*step) {
					runStart = -1
					continue
				}
				if runStart < 0 {
					runStart = i
				}
				if i-runStart+1 > bestLen {
					bestLen, found = i-runStart+1, true
					lat, lon = la, p.minLon+float64(runStart+i)/2*step
				}
			}
		}
		if found {
			return lat, lon, true
		}
		return p.rings[0].lat[0], p.rings[0].lon[0], true
	}
	return 0, 0, false
}
