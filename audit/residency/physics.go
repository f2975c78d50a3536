package residency

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Physics constants. Light in fibre covers about 200,000 km/s, so one millisecond of round trip bounds the
// great-circle distance to about 100 km. Routes only ever detour, so the bound is safe in one direction: a
// low RTT disproves a far-away answer, a high RTT proves nothing.
const (
	KmPerMsRTT = 100.0
	// ToleranceKm widens every disc for the generalisation of the 1:50m boundaries and for vantage
	// coordinates given to a city.
	ToleranceKm = 25.0
	// MaxDecisiveRadiusKm: beyond this a disc around a European vantage spans a continent, so it can neither
	// prove nor usefully support an answer.
	MaxDecisiveRadiusKm = 3000.0
)

// Vantage is where a measurement was taken from, with its coordinates in degrees.
type Vantage struct {
	Name string  `json:"name"`
	Lat  float64 `json:"lat"`
	Lon  float64 `json:"lon"`
}

// RTTObservation is the minimum round-trip time measured from one vantage to one address.
type RTTObservation struct {
	Vantage Vantage       `json:"vantage"`
	Addr    netip.Addr    `json:"addr"`
	MinRTT  time.Duration `json:"min_rtt"`
	// Received is how many replies the minimum was taken over; zero means no reply and no bound.
	Received   int       `json:"received"`
	MeasuredAt time.Time `json:"measured_at"`
}

// RadiusKm is the disc the address must lie in, tolerance included.
func (o RTTObservation) RadiusKm() float64 {
	return float64(o.MinRTT)/float64(time.Millisecond)*KmPerMsRTT + ToleranceKm
}

// PhysicsClass classifies a GeoIP answer against the RTT discs.
type PhysicsClass string

const (
	// PhysicsProven: the whole disc lies in EEA or fully adequate territory.
	PhysicsProven PhysicsClass = "proven"
	// PhysicsConsistent: a decisive disc reaches the claimed country but also other territory.
	PhysicsConsistent PhysicsClass = "consistent"
	// PhysicsContradicted: some disc does not reach the claimed country, or two discs do not meet (anycast).
	PhysicsContradicted PhysicsClass = "contradicted"
	// PhysicsUnverifiable: no RTT, or every disc too big to decide.
	PhysicsUnverifiable PhysicsClass = "unverifiable"
)

// PhysicsResult is the outcome of the speed-of-light check of one GeoIP answer.
type PhysicsResult struct {
	Class   PhysicsClass `json:"class"`
	Claimed string       `json:"claimed"` // the GeoIP country checked, ISO alpha-2
	// Vantage, MinRTT and RadiusKm describe the deciding disc (the smallest one, or the contradicting one).
	Vantage  string        `json:"vantage"`
	MinRTT   time.Duration `json:"min_rtt"`
	RadiusKm float64       `json:"radius_km"`
	// DiscCountries are the countries with land inside the deciding disc ("" = land of unknown status).
	DiscCountries []string `json:"disc_countries"`
	// SplitSites is set when two discs do not intersect: one address answering from two places (anycast).
	SplitSites bool   `json:"split_sites"`
	Message    string `json:"message"`
}

// geometryCode maps ISO codes that the admin-0 set folds into another country.
var geometryCode = map[string]string{
	"RE": "FR", "GP": "FR", "MQ": "FR", "GF": "FR", "YT": "FR", "MF": "FR", "AX": "FI", "SJ": "NO",
}

type discKey struct{ lat, lon, r float64 }

// discCache memoises CountriesInDisc: an audit asks about the same few vantages over and over.
var discCache sync.Map

func (g *Geometry) discCountries(lat, lon, r float64) []string {
	// Round the radius up to 5 km so the cache stays small in a long-running service; a bigger disc is the
	// conservative direction for both proof and contradiction.
	r = math.Ceil(r/5) * 5
	k := discKey{lat, lon, r}
	if v, ok := discCache.Load(k); ok {
		return v.([]string)
	}
	c := g.CountriesInDisc(lat, lon, r)
	discCache.Store(k, c)
	return c
}

// ClassifyPhysics checks the GeoIP country claimed for an address against its RTT observations. It is a pure
// function of its inputs. Each disc is judged on its own: the address lies in every disc, so one disc that
// misses the claimed country contradicts it, and one disc wholly in qualifying territory proves the
// territory (Constraint-Based Geolocation would intersect the discs; this is the conservative subset of it).
func ClassifyPhysics(r *Rules, g *Geometry, claimed string, rtts []RTTObservation) PhysicsResult {
	res := PhysicsResult{Claimed: claimed}
	var discs []RTTObservation
	for _, o := range rtts {
		if o.Received > 0 && o.MinRTT > 0 {
			discs = append(discs, o)
		}
	}
	if len(discs) == 0 {
		res.Class = PhysicsUnverifiable
		res.Message = "no RTT measured to this address, so the GeoIP answer cannot be checked against physics"
		return res
	}
	slices.SortFunc(discs, func(a, b RTTObservation) int { return cmpFloat(a.RadiusKm(), b.RadiusKm()) })
	// Two discs that do not meet cannot both hold one machine: the address answers from several sites.
	for i := range discs {
		for j := i + 1; j < len(discs); j++ {
			a, b := discs[i], discs[j]
			d := GreatCircleKm(a.Vantage.Lat, a.Vantage.Lon, b.Vantage.Lat, b.Vantage.Lon)
			if d > a.RadiusKm()+b.RadiusKm() {
				res.Class, res.SplitSites = PhysicsContradicted, true
				res.Vantage, res.MinRTT, res.RadiusKm = a.Vantage.Name, a.MinRTT, a.RadiusKm()
				res.Message = fmt.Sprintf("the discs from %s (%s, ≤%.0f km) and %s (%s, ≤%.0f km) do not meet "+
					"(vantages %.0f km apart): one address answers from several places, as anycast does",
					a.Vantage.Name, fmtMs(a.MinRTT), a.RadiusKm(), b.Vantage.Name, fmtMs(b.MinRTT), b.RadiusKm(), d)
				return res
			}
		}
	}
	geo := claimed
	if c, ok := geometryCode[geo]; ok {
		geo = c
	}
	canContradict := claimed != "" && g.HasCountry(geo)
	for _, o := range discs {
		in := g.discCountries(o.Vantage.Lat, o.Vantage.Lon, o.RadiusKm())
		if canContradict && !slices.Contains(in, geo) {
			res.Class = PhysicsContradicted
			res.Vantage, res.MinRTT, res.RadiusKm, res.DiscCountries = o.Vantage.Name, o.MinRTT, o.RadiusKm(), in
			res.Message = fmt.Sprintf("GeoIP says %s, but a minimum RTT of %s from %s bounds the address to %.0f km "+
				"of the vantage (%.0f km per ms, +%.0f km tolerance), which reaches only %s",
				claimed, fmtMs(o.MinRTT), o.Vantage.Name, o.RadiusKm(), KmPerMsRTT, ToleranceKm, listCodes(in))
			return res
		}
	}
	o := discs[0]
	in := g.discCountries(o.Vantage.Lat, o.Vantage.Lon, o.RadiusKm())
	res.Vantage, res.MinRTT, res.RadiusKm, res.DiscCountries = o.Vantage.Name, o.MinRTT, o.RadiusKm(), in
	if o.RadiusKm() > MaxDecisiveRadiusKm {
		res.Class = PhysicsUnverifiable
		res.Message = fmt.Sprintf("the smallest disc (%s from %s, ≤%.0f km) is too big to decide (limit %.0f km)",
			fmtMs(o.MinRTT), o.Vantage.Name, o.RadiusKm(), MaxDecisiveRadiusKm)
		return res
	}
	qualifies := len(in) > 0
	for _, c := range in {
		if c == "" || !r.Qualifies(c) {
			qualifies = false
		}
	}
	if qualifies {
		res.Class = PhysicsProven
		res.Message = fmt.Sprintf("a minimum RTT of %s from %s bounds the address to %.0f km of the vantage; all land "+
			"within it (%s) is EEA or fully adequate territory on %s", fmtMs(o.MinRTT), o.Vantage.Name, o.RadiusKm(),
			listCodes(in), r.Date.Format(time.DateOnly))
		return res
	}
	res.Class = PhysicsConsistent
	res.Message = fmt.Sprintf("a minimum RTT of %s from %s bounds the address to %.0f km of the vantage, which "+
		"reaches %s but also %s", fmtMs(o.MinRTT), o.Vantage.Name, o.RadiusKm(), orUnknown(claimed), listCodes(in))
	return res
}

// PhysicsMethod is the method statement every physics finding carries.
const PhysicsMethod = "Method: each minimum RTT bounds the great-circle distance from its vantage to " +
	"100 km per ms plus 25 km tolerance; a country is inside the disc when the vantage lies in one of its " +
	"polygons or one of its boundary edges (great-circle segments) passes within the radius — an exact test on " +
	"the simplified boundaries, not sampling. Proven means every country with land in the smallest disc is EEA " +
	"or fully adequate on the audit date (sea is ignored: servers stand on land). Boundaries: " + GeometrySource + "."

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func fmtMs(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func listCodes(cs []string) string {
	if len(cs) == 0 {
		return "no land"
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = orUnknown(c)
	}
	return strings.Join(out, ", ")
}

func orUnknown(c string) string {
	if c == "" {
		return "land of unknown status"
	}
	return c
}
