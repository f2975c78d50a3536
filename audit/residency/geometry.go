package residency

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
)

// countriesData is Natural Earth admin-0 countries at 1:50m (public domain), from the npm package world-atlas
// 2.0.2 (Natural Earth 4.1.0), converted by internal/geogen. COUNTRIES-NOTICE.md says how to regenerate it
// and carries the attribution and licence notes.
//
//go:embed countries.bin.gz
var countriesData []byte

// GeometrySource describes the boundary set, for the text of physics findings.
const GeometrySource = "Natural Earth admin-0 countries 1:50m v4.1.0 (public domain, via world-atlas 2.0.2), " +
	"quantised to ~0.0036° longitude × 0.0017° latitude; coastlines and borders are generalised by a few km, " +
	"islands and enclaves smaller than the 1:50m scale are missing"

const earthRadiusKm = 6371.0088

// vec is a point on the unit sphere.
type vec struct{ x, y, z float64 }

func toVec(lat, lon float64) vec {
	la, lo := lat*math.Pi/180, lon*math.Pi/180
	return vec{math.Cos(la) * math.Cos(lo), math.Cos(la) * math.Sin(lo), math.Sin(la)}
}

func (a vec) dot(b vec) float64 { return a.x*b.x + a.y*b.y + a.z*b.z }
func (a vec) cross(b vec) vec {
	return vec{a.y*b.z - a.z*b.y, a.z*b.x - a.x*b.z, a.x*b.y - a.y*b.x}
}
func (a vec) norm() float64 { return math.Sqrt(a.dot(a)) }

// angle returns the central angle between two unit vectors in radians, stable for small angles.
func angle(a, b vec) float64 { return math.Atan2(a.cross(b).norm(), a.dot(b)) }

// GreatCircleKm is the great-circle distance between two points given in degrees.
func GreatCircleKm(lat1, lon1, lat2, lon2 float64) float64 {
	return angle(toVec(lat1, lon1), toVec(lat2, lon2)) * earthRadiusKm
}

// segDist returns the angular distance from p to the great-circle segment a-b.
func segDist(p, a, b vec) float64 {
	n := a.cross(b)
	nn := n.norm()
	if nn < 1e-12 {
		return angle(p, a)
	}
	n = vec{n.x / nn, n.y / nn, n.z / nn}
	// p lies "between" a and b when its projection onto the great circle falls inside the arc.
	if a.cross(p).dot(n) >= 0 && p.cross(b).dot(n) >= 0 {
		return math.Abs(math.Asin(math.Max(-1, math.Min(1, p.dot(n)))))
	}
	return math.Min(angle(p, a), angle(p, b))
}

type ring struct {
	lon, lat                       []float64
	v                              []vec
	minLon, maxLon, minLat, maxLat float64
}

type polygon struct {
	rings                          []ring // first is the outer ring, the rest holes
	minLon, maxLon, minLat, maxLat float64
}

// country is one admin-0 feature. Code "" marks an area of disputed or unknown status.
type country struct {
	code  string
	polys []polygon
}

// contains reports whether the point lies inside the polygon (even-odd rule over all rings, in lon/lat).
// A polygon that crosses the antimeridian has longitudes beyond ±180 (see unwrap), so the point is also
// tried one turn east or west.
func (p *polygon) contains(lat, lon float64) bool {
	return p.containsLon(lat, lon) || (p.maxLon > 180 && p.containsLon(lat, lon+360)) ||
		(p.minLon < -180 && p.containsLon(lat, lon-360))
}

func (p *polygon) containsLon(lat, lon float64) bool {
	if lon < p.minLon || lon > p.maxLon || lat < p.minLat || lat > p.maxLat {
		return false
	}
	in := false
	for i := range p.rings {
		r := &p.rings[i]
		n := len(r.lon)
		for a, b := 0, n-1; a < n; b, a = a, a+1 {
			if (r.lat[a] > lat) != (r.lat[b] > lat) &&
				lon < (r.lon[b]-r.lon[a])*(lat-r.lat[a])/(r.lat[b]-r.lat[a])+r.lon[a] {
				in = !in
			}
		}
	}
	return in
}

// nearKm reports whether any part of the polygon lies within radius km of the centre: the centre is inside it,
// or one of its edges passes within the radius.
func (p *polygon) nearKm(lat, lon float64, c vec, radiusKm float64) bool {
	if !bboxNear(p.minLat, p.maxLat, p.minLon, p.maxLon, lat, lon, radiusKm) {
		return false
	}
	if p.contains(lat, lon) {
		return true
	}
	ang := radiusKm / earthRadiusKm
	for i := range p.rings {
		r := &p.rings[i]
		if !bboxNear(r.minLat, r.maxLat, r.minLon, r.maxLon, lat, lon, radiusKm) {
			continue
		}
		n := len(r.v)
		for a, b := 0, n-1; a < n; b, a = a, a+1 {
			if segDist(c, r.v[b], r.v[a]) <= ang {
				return true
			}
		}
	}
	return false
}

// bboxNear is a cheap conservative pre-test: false only when the box is certainly farther than radiusKm.
func bboxNear(minLat, maxLat, minLon, maxLon, lat, lon, radiusKm float64) bool {
	dLat := radiusKm / 111.0 // degrees of latitude per km, with margin below
	if lat+dLat < minLat || lat-dLat > maxLat {
		return false
	}
	if math.Abs(lat)+dLat >= 89 { // near a pole longitude says nothing
		return true
	}
	cos := math.Cos((math.Abs(lat) + dLat) * math.Pi / 180)
	dLon := dLat / cos
	if dLon >= 180 {
		return true
	}
	lo, hi := lon-dLon, lon+dLon
	if hi < minLon || lo > maxLon {
		// try the antimeridian wrap
		if hi+360 >= minLon && lo+360 <= maxLon || hi-360 >= minLon && lo-360 <= maxLon {
			return true
		}
		return hi > 180 && hi-360 >= minLon || lo < -180 && lo+360 <= maxLon
	}
	return true
}

// Geometry is the embedded country boundary set.
type Geometry struct {
	countries []country
}

var (
	geometryOnce sync.Once
	geometry     *Geometry
	geometryErr  error
)

// Countries returns the embedded boundary set, decoded once.
func Countries() (*Geometry, error) {
	geometryOnce.Do(func() { geometry, geometryErr = decodeGeometry(countriesData) })
	return geometry, geometryErr
}

func decodeGeometry(data []byte) (*Geometry, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("embedded country geometry: %w", err)
	}
	r := bufio.NewReader(zr)
	magic := make([]byte, 10)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "VARDEGEO1\n" {
		return nil, fmt.Errorf("embedded country geometry: bad header")
	}
	var tr [4]float64
	for i := range tr {
		var bits uint64
		if err := binary.Read(r, binary.LittleEndian, &bits); err != nil {
			return nil, fmt.Errorf("embedded country geometry: %w", err)
		}
		tr[i] = math.Float64frombits(bits)
	}
	var rerr error
	uv := func() int {
		v, err := binary.ReadUvarint(r)
		if err != nil && rerr == nil {
			rerr = err
		}
		return int(v)
	}
	sv := func() int64 {
		v, err := binary.ReadVarint(r)
		if err != nil && rerr == nil {
			rerr = err
		}
		return v
	}
	g := &Geometry{countries: make([]country, uv())}
	for ci := range g.countries {
		code := make([]byte, uv())
		if _, err := io.ReadFull(r, code); err != nil {
			return nil, fmt.Errorf("embedded country geometry: %w", err)
		}
		c := country{code: string(code), polys: make([]polygon, uv())}
		for pi := range c.polys {
			p := polygon{rings: make([]ring, uv()), minLon: 999, maxLon: -999, minLat: 999, maxLat: -999}
			for ri := range p.rings {
				n := uv()
				if rerr != nil || n > 1<<20 {
					return nil, fmt.Errorf("embedded country geometry: corrupt ring")
				}
				rg := ring{lon: make([]float64, n), lat: make([]float64, n), v: make([]vec, n),
					minLon: 999, maxLon: -999, minLat: 999, maxLat: -999}
				var x, y int64
				for k := 0; k < n; k++ {
					x += sv()
					y += sv()
					lon := float64(x)*tr[0] + tr[2]
					lat := float64(y)*tr[1] + tr[3]
					rg.lon[k], rg.lat[k], rg.v[k] = lon, lat, toVec(lat, lon)
					rg.minLon, rg.maxLon = math.Min(rg.minLon, lon), math.Max(rg.maxLon, lon)
					rg.minLat, rg.maxLat = math.Min(rg.minLat, lat), math.Max(rg.maxLat, lat)
				}
				unwrap(&rg)
				p.rings[ri] = rg
				p.minLon, p.maxLon = math.Min(p.minLon, rg.minLon), math.Max(p.maxLon, rg.maxLon)
				p.minLat, p.maxLat = math.Min(p.minLat, rg.minLat), math.Max(p.maxLat, rg.maxLat)
			}
			c.polys[pi] = p
		}
		g.countries[ci] = c
	}
	if rerr != nil {
		return nil, fmt.Errorf("embedded country geometry: %w", rerr)
	}
	return g, nil
}

// unwrap makes a ring that crosses the antimeridian continuous in longitude. The boundary data jumps from
// +180 to -180 there; read in lon/lat, such an edge spans the whole globe and the even-odd test counts it for
// every point at its latitudes (northern Sweden came out Russian, from Chukotka's edge). A ring that crosses
// an even number of times is shifted by a turn between the crossings, so it closes with longitudes
// beyond ±180. A ring around a pole (an odd number of crossings) is left as it is.
func unwrap(rg *ring) {
	n := len(rg.lon)
	jumps := 0
	for a, b := 0, n-1; a < n; b, a = a, a+1 {
		if math.Abs(rg.lon[a]-rg.lon[b]) > 180 {
			jumps++
		}
	}
	if jumps == 0 || jumps%2 == 1 {
		return
	}
	offset, prev := 0.0, rg.lon[0]
	rg.minLon, rg.maxLon = rg.lon[0], rg.lon[0]
	for k := 1; k < n; k++ {
		orig := rg.lon[k]
		switch d := orig - prev; {
		case d > 180:
			offset -= 360
		case d < -180:
			offset += 360
		}
		prev = orig
		rg.lon[k] = orig + offset
		rg.minLon, rg.maxLon = math.Min(rg.minLon, rg.lon[k]), math.Max(rg.maxLon, rg.lon[k])
	}
}

// CountryAt returns the ISO alpha-2 code of the country containing the point, "" with ok=true for land of
// unknown status, and ok=false for sea (no country).
func (g *Geometry) CountryAt(lat, lon float64) (code string, ok bool) {
	for i := range g.countries {
		for j := range g.countries[i].polys {
			if g.countries[i].polys[j].contains(lat, lon) {
				return g.countries[i].code, true
			}
		}
	}
	return "", false
}

// CountriesInDisc returns the codes of every country with land within radiusKm of the centre, by the exact
// test "centre inside a polygon, or a polygon edge (as a great-circle segment) within the radius". Land of
// unknown status is reported as "". Order follows the boundary set (sorted by code).
func (g *Geometry) CountriesInDisc(lat, lon, radiusKm float64) []string {
	c := toVec(lat, lon)
	var out []string
	for i := range g.countries {
		for j := range g.countries[i].polys {
			if g.countries[i].polys[j].nearKm(lat, lon, c, radiusKm) {
				out = append(out, g.countries[i].code)
				break
			}
		}
	}
	return out
}

// HasCountry reports whether the set knows the code (an area big enough for the 1:50m scale).
func (g *Geometry) HasCountry(code string) bool {
	for i := range g.countries {
		if g.countries[i].code == code {
			return true
		}
	}
	return false
}
