package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/job"
	"github.com/varde/varde/reports"
	"github.com/varde/varde/storage"
)

// The residency map is drawn on the server as SVG from the country boundaries package residency embeds
// for its physics check: an equirectangular projection scaled by the cosine of the view's middle
// latitude, cropped to the stores, the vantages and the RTT discs that decide anything.

type countryPath struct {
	code                           string
	d                              string // path in (lon, -lat) degrees
	minLon, maxLon, minLat, maxLat float64
}

var (
	worldOnce  sync.Once
	world      []countryPath
	worldGeo   *residency.Geometry
	worldError error
)

func loadWorld() ([]countryPath, *residency.Geometry, error) {
	worldOnce.Do(func() {
		g, err := residency.Countries()
		if err != nil {
			worldError = err
			return
		}
		worldGeo = g
		for _, o := range g.Outlines(0.04) {
			cp := countryPath{code: o.Code, minLon: 999, maxLon: -999, minLat: 999, maxLat: -999}
			var b strings.Builder
			for _, poly := range o.Polygons {
				for _, ring := range poly {
					if crossesAntimeridian(ring) {
						continue // filled across the whole map otherwise; only far-east islands and Chukotka do
					}
					for i, p := range ring {
						if i == 0 {
							b.WriteByte('M')
						} else {
							b.WriteByte('L')
						}
						fmt.Fprintf(&b, "%.2f %.2f", p[0], -p[1])
						cp.minLon, cp.maxLon = math.Min(cp.minLon, p[0]), math.Max(cp.maxLon, p[0])
						cp.minLat, cp.maxLat = math.Min(cp.minLat, p[1]), math.Max(cp.maxLat, p[1])
					}
					b.WriteByte('Z')
				}
			}
			cp.d = b.String()
			world = append(world, cp)
		}
	})
	return world, worldGeo, worldError
}

func crossesAntimeridian(ring [][2]float64) bool {
	for i := 1; i < len(ring); i++ {
		if math.Abs(ring[i][0]-ring[i-1][0]) > 180 {
			return true
		}
	}
	return false
}

type mapStore struct {
	job.StoreView
	Mark mark
}

type mapDisc struct {
	Vantage  string
	Lat, Lon float64
	Address  string
	MinRTT   string
	RadiusKm float64
	Drawn    bool
}

type mapVantage struct {
	Name     string
	Lat, Lon float64
}

type mapData struct {
	Audit    storage.Audit
	SVG      template.HTML
	Stores   []mapStore
	Vantages []mapVantage
	Discs    []mapDisc
	Source   string
	// Unplaced are stores located in no country the map can show.
	Unplaced []string
}

// maxDrawnDiscKm: a larger disc spans most of a hemisphere and says nothing on a map of a region.
const maxDrawnDiscKm = residency.MaxDecisiveRadiusKm

func (h *Handler) mapPage(w http.ResponseWriter, r *http.Request) {
	a, ok := h.requestedAudit(w, r)
	if !ok {
		return
	}
	ctx, id := r.Context(), a.ID
	svs, _, err := h.storeViews(r, id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	obs, err := h.cfg.Evidence.Observations(ctx, id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d := mapData{Audit: a, Source: residency.GeometrySource}
	for _, sv := range svs {
		d.Stores = append(d.Stores, mapStore{sv, storeStatusMark(sv.Status)})
	}
	var cfg job.Config
	if len(a.Config) > 0 {
		if err := json.Unmarshal(a.Config, &cfg); err != nil {
			h.serverError(w, r, fmt.Errorf("audit %d: stored config: %w", id, err))
			return
		}
	}
	for _, v := range cfg.Vantages {
		d.Vantages = append(d.Vantages, mapVantage{v.Name, v.Latitude, v.Longitude})
	}
	seen := map[string]bool{}
	for _, o := range obs {
		if o.Source != residency.ObservationRTT {
			continue
		}
		var ro residency.Observation
		if err := json.Unmarshal(o.Details, &ro); err != nil || ro.RTT == nil || ro.RTT.Received == 0 {
			continue
		}
		key := ro.RTT.Vantage.Name + " " + ro.RTT.Addr.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		v := ro.RTT.Vantage
		d.Discs = append(d.Discs, mapDisc{Vantage: v.Name, Lat: v.Lat, Lon: v.Lon, Address: addrString(ro.RTT.Addr),
			MinRTT: reports.FormatMS(ro.RTT.MinRTT), RadiusKm: ro.RTT.RadiusKm(), Drawn: ro.RTT.RadiusKm() <= maxDrawnDiscKm})
		if !hasVantage(d.Vantages, v.Name) {
			d.Vantages = append(d.Vantages, mapVantage{v.Name, v.Lat, v.Lon})
		}
	}
	sort.Slice(d.Discs, func(i, j int) bool { return d.Discs[i].RadiusKm < d.Discs[j].RadiusKm })
	svg, err := drawMap(localeFor(r), &d)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d.SVG = svg
	h.render(w, r, http.StatusOK, "map", "Residency map", d)
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func hasVantage(vs []mapVantage, name string) bool {
	for _, v := range vs {
		if v.Name == name {
			return true
		}
	}
	return false
}

type bbox struct{ minLon, maxLon, minLat, maxLat float64 }

func (b *bbox) add(lat, lon float64) {
	b.minLon, b.maxLon = math.Min(b.minLon, lon), math.Max(b.maxLon, lon)
	b.minLat, b.maxLat = math.Min(b.minLat, lat), math.Max(b.maxLat, lat)
}

// discRing is the circle of radiusKm around a point, as (lon, lat) points, longitudes kept continuous.
func discRing(lat, lon, radiusKm float64) [][2]float64 {
	const r = 6371.0088
	la, lo, ang := lat*math.Pi/180, lon*math.Pi/180, radiusKm/r
	var out [][2]float64
	for b := 0; b < 360; b += 5 {
		br := float64(b) * math.Pi / 180
		la2 := math.Asin(math.Sin(la)*math.Cos(ang) + math.Cos(la)*math.Sin(ang)*math.Cos(br))
		lo2 := lo + math.Atan2(math.Sin(br)*math.Sin(ang)*math.Cos(la), math.Cos(ang)-math.Sin(la)*math.Sin(la2))
		out = append(out, [2]float64{lo2 * 180 / math.Pi, la2 * 180 / math.Pi})
	}
	return out
}

func drawMap(l locale, d *mapData) (template.HTML, error) {
	countries, geo, err := loadWorld()
	if err != nil {
		return "", err
	}
	type point struct {
		lat, lon float64
		stack    int // how many stores of the same country come before it: drawn below them
		store    *mapStore
		code     string
	}
	var pts []point
	perCountry := map[string]int{}
	located := map[string]bool{}
	for i := range d.Stores {
		for _, c := range d.Stores[i].Countries {
			if c == "" { // land of unknown status has no one place to put a store
				continue
			}
			lat, lon, ok := geo.LabelPoint(c)
			if !ok {
				continue
			}
			located[c] = true
			pts = append(pts, point{lat: lat, lon: lon, stack: perCountry[c], store: &d.Stores[i], code: c})
			perCountry[c]++
		}
	}
	for i := range d.Stores {
		if len(d.Stores[i].Countries) == 0 || !located[d.Stores[i].Countries[0]] {
			d.Unplaced = append(d.Unplaced, d.Stores[i].Store)
		}
	}
	box := bbox{999, -999, 999, -999}
	for _, p := range pts {
		box.add(p.lat, p.lon)
	}
	for _, v := range d.Vantages {
		box.add(v.Lat, v.Lon)
	}
	for _, dc := range d.Discs {
		if dc.Drawn {
			for _, p := range discRing(dc.Lat, dc.Lon, dc.RadiusKm) {
				box.add(p[1], p[0])
			}
		}
	}
	if box.minLon > box.maxLon { // nothing to show: Europe
		box = bbox{-10, 30, 35, 70}
	}
	// Pad, and keep a sensible minimum extent.
	padLon, padLat := math.Max(3, (box.maxLon-box.minLon)*0.08), math.Max(2, (box.maxLat-box.minLat)*0.08)
	box = bbox{box.minLon - padLon, box.maxLon + padLon, math.Max(-85, box.minLat-padLat), math.Min(85, box.maxLat+padLat)}
	if w := box.maxLon - box.minLon; w < 24 {
		box.minLon, box.maxLon = box.minLon-(24-w)/2, box.maxLon+(24-w)/2
	}
	if hgt := box.maxLat - box.minLat; hgt < 14 {
		box.minLat, box.maxLat = box.minLat-(14-hgt)/2, box.maxLat+(14-hgt)/2
	}
	k := math.Cos((box.minLat + box.maxLat) / 2 * math.Pi / 180)
	// Room for what is drawn beside the points: store names to the right, vantage names to the left,
	// stacked stores below (in pixels of a 1000-wide map, converted to degrees).
	stacked := 0
	for _, p := range pts {
		stacked = max(stacked, p.stack)
	}
	px := (box.maxLon - box.minLon) * k / 1000
	box.maxLon += 190 * px / k
	box.minLon -= 110 * px / k
	box.minLat = math.Max(-85, box.minLat-float64(stacked*26+20)*px)
	box.maxLat = math.Min(85, box.maxLat+20*px)
	vx, vy, vw, vh := box.minLon*k, -box.maxLat, (box.maxLon-box.minLon)*k, box.maxLat-box.minLat
	u := vw / 1000 // one pixel of a 1000-wide map, in view units
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="%.3f %.3f %.3f %.3f" role="img" aria-labelledby="map-title map-desc">`, vx, vy, vw, vh)
	fmt.Fprintf(&b, `<title id="map-title">%s</title>`, template.HTMLEscapeString(l.Tf("Residency map of audit %d", d.Audit.ID)))
	fmt.Fprintf(&b, `<desc id="map-desc">%s</desc>`, template.HTMLEscapeString(l.T("Data stores at their located countries, vantages and RTT discs")))
	fmt.Fprintf(&b, `<rect class="sea" x="%.3f" y="%.3f" width="%.3f" height="%.3f"/>`, vx, vy, vw, vh)
	fmt.Fprintf(&b, `<g transform="scale(%.5f 1)">`, k)
	for _, c := range countries {
		if c.maxLon < box.minLon || c.minLon > box.maxLon || c.maxLat < box.minLat || c.minLat > box.maxLat {
			continue
		}
		cls := "land"
		if located[c.code] {
			cls = "land located"
		}
		fmt.Fprintf(&b, `<path class="%s" d="%s"><title>%s</title></path>`, cls, c.d, template.HTMLEscapeString(c.code))
	}
	b.WriteString(`</g>`)
	for i, dc := range d.Discs {
		if !dc.Drawn {
			continue
		}
		b.WriteString(`<path class="disc" d="`)
		for j, p := range discRing(dc.Lat, dc.Lon, dc.RadiusKm) {
			if j == 0 {
				b.WriteByte('M')
			} else {
				b.WriteByte('L')
			}
			fmt.Fprintf(&b, "%.3f %.3f", p[0]*k, -p[1])
		}
		fmt.Fprintf(&b, `Z"><title>%s</title></path>`, template.HTMLEscapeString(
			l.Tf("%s: %.0f km (min RTT %s ms to %s)", dc.Vantage, dc.RadiusKm, dc.MinRTT, dc.Address)))
		_ = i
	}
	for _, v := range d.Vantages {
		x, y, s := v.Lon*k, -v.Lat, 9*u
		fmt.Fprintf(&b, `<g class="vantage"><title>%s</title><path d="M%.3f %.3fL%.3f %.3fL%.3f %.3fL%.3f %.3fZ"/>`,
			template.HTMLEscapeString(l.T("Vantage")+" "+v.Name), x, y-s, x+s, y, x, y+s, x-s, y)
		// The name goes to the left: stores take the right of their markers.
		fmt.Fprintf(&b, `<text x="%.3f" y="%.3f" font-size="%.3f" text-anchor="end">%s</text></g>`, x-s*1.3, y+s*0.5, 15*u, template.HTMLEscapeString(v.Name))
	}
	for _, p := range pts {
		x, y, s := p.lon*k, -p.lat+float64(p.stack)*26*u, 11*u
		m := p.store.Mark
		fmt.Fprintf(&b, `<g class="store %s"><title>%s</title>`, m.Class,
			template.HTMLEscapeString(fmt.Sprintf("%s (%s): %s %s", p.store.Store, p.code, m.Symbol, l.T(m.Word))))
		switch m.Class {
		case "good":
			fmt.Fprintf(&b, `<circle cx="%.3f" cy="%.3f" r="%.3f"/>`, x, y, s)
		case "bad":
			fmt.Fprintf(&b, `<rect x="%.3f" y="%.3f" width="%.3f" height="%.3f"/>`, x-s, y-s, 2*s, 2*s)
		default:
			fmt.Fprintf(&b, `<path d="M%.3f %.3fL%.3f %.3fL%.3f %.3fZ"/>`, x, y-s*1.2, x+s*1.1, y+s*0.9, x-s*1.1, y+s*0.9)
		}
		fmt.Fprintf(&b, `<text class="sym" x="%.3f" y="%.3f" font-size="%.3f" text-anchor="middle">%s</text>`, x, y+s*0.45, 13*u, m.Symbol)
		fmt.Fprintf(&b, `<text class="label" x="%.3f" y="%.3f" font-size="%.3f">%s</text></g>`, x+s*1.4, y+s*0.45, 14*u,
			template.HTMLEscapeString(p.store.Store))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()), nil
}
