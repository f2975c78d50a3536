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

// Physics constants. A round trip covers the distance twice, so a minimum RTT bounds the great-circle
// distance to the vantage by half the RTT times the fastest signal speed. Routes only ever detour, so the
// bound holds in one direction: a low RTT disproves a far-away answer, a high RTT proves nothing.
const (
	// KmPerMsRTT is the bound used for every claim: light in vacuum, 299,792 km/s, over half the RTT, about
	// 150 km per ms of RTT. Microwave links and hollow-core fibre come close to c, so the 100 km per ms of
	// ordinary fibre (2/3 c) is typical, not a bound, and a disc drawn with it could exclude the true place.
	KmPerMsRTT = 149.896
	// KmPerMsRTTFibre is the typical reach of ordinary fibre (about 2/3 c), stated beside the bound so a
	// reader sees how far the endpoint most likely is; no verdict rests on it.
	KmPerMsRTTFibre = 100.0
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

// RadiusKm is the disc the address must lie in at the speed of light, tolerance included.
func (o RTTObservation) RadiusKm() float64 {
	return float64(o.MinRTT)/float64(time.Millisecond)*KmPerMsRTT + ToleranceKm
}

// FibreKm is the typical reach over ordinary fibre, for the reader only.
func (o RTTObservation) FibreKm() float64 {
	return float64(o.MinRTT) / float64(time.Millisecond) * KmPerMsRTTFibre
}

// PhysicsClass names what the RTT discs show about the responding endpoint. None of them says where the
// data is: a proxy, load balancer or CDN edge near the vantage can front a backend anywhere.
type PhysicsClass string

const (
	// PhysicsEndpointInQualifyingLand: every country with land where all discs meet is EEA or fully
	// adequate territory. It shows where the endpoint is, not where the data is.
	PhysicsEndpointInQualifyingLand PhysicsClass = "endpoint_within_eea_or_adequate_land"
	// PhysicsEndpointNearClaim: the discs reach the GeoIP country but also other territory.
	PhysicsEndpointNearClaim PhysicsClass = "endpoint_within_radius"
	// PhysicsEndpointNotInClaim: the endpoint cannot be in the GeoIP country even at the speed of light.
	PhysicsEndpointNotInClaim PhysicsClass = "endpoint_cannot_be_in_country"
	// PhysicsEndpointSeveralSites: two discs do not meet, so one address answers from several places
	// (anycast).
	PhysicsEndpointSeveralSites PhysicsClass = "endpoint_at_several_sites"
	// PhysicsUnverifiable: no RTT, or every disc too big to decide.
	PhysicsUnverifiable PhysicsClass = "unverifiable"
)

// PhysicsResult is the outcome of the speed-of-light check of one GeoIP answer.
type PhysicsResult struct {
	Class   PhysicsClass `json:"class"`
	Claimed string       `json:"claimed"` // the GeoIP country checked, ISO alpha-2
	// Vantage, MinRTT and RadiusKm describe the deciding disc (the smallest one, or the one that excludes
	// the claim).
	Vantage  string        `json:"vantage"`
	MinRTT   time.Duration `json:"min_rtt"`
	RadiusKm float64       `json:"radius_km"`
	// Vantages are every vantage whose disc was intersected.
	Vantages []string `json:"vantages"`
	// DiscCountries are the countries with land inside every disc ("" = land of unknown status).
	DiscCountries []string `json:"disc_countries"`
	Message       string   `json:"message"`
}

// Summary is the one-line statement of what the check shows, named for the endpoint.
func (p PhysicsResult) Summary() string {
	switch p.Class {
	case PhysicsEndpointInQualifyingLand, PhysicsEndpointNearClaim:
		return fmt.Sprintf("endpoint within %.0f km of vantage %s", p.RadiusKm, p.Vantage)
	case PhysicsEndpointNotInClaim:
		return fmt.Sprintf("endpoint cannot be in country %s (within %.0f km of vantage %s)", p.Claimed, p.RadiusKm, p.Vantage)
	case PhysicsEndpointSeveralSites:
		return "endpoint answers from several sites (" + strings.Join(p.Vantages, ", ") + ")"
	}
	return "physics unverifiable"
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
// function of its inputs. The endpoint lies in every disc, so the discs are intersected (Constraint-Based
// Geolocation, Gueye et al., IEEE/ACM ToN 14(6), 2006): a country is possible only if every disc reaches it.
// The intersection of the per-disc country sets is a superset of the land in the true intersection, which
// is the safe direction for both "cannot be in" and "within qualifying land".
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
	for _, o := range discs {
		res.Vantages = append(res.Vantages, o.Vantage.Name)
	}
	// Two discs that do not meet cannot both hold one machine: the address answers from several sites.
	for i := range discs {
		for j := i + 1; j < len(discs); j++ {
			a, b := discs[i], discs[j]
			d := GreatCircleKm(a.Vantage.Lat, a.Vantage.Lon, b.Vantage.Lat, b.Vantage.Lon)
			if d > a.RadiusKm()+b.RadiusKm() {
				res.Class = PhysicsEndpointSeveralSites
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
	canExclude := claimed != "" && g.HasCountry(geo)
	var common []string // countries every disc reaches so far
	for i, o := range discs {
		in := g.discCountries(o.Vantage.Lat, o.Vantage.Lon, o.RadiusKm())
		if canExclude && !slices.Contains(in, geo) {
			res.Class = PhysicsEndpointNotInClaim
			res.Vantage, res.MinRTT, res.RadiusKm, res.DiscCountries = o.Vantage.Name, o.MinRTT, o.RadiusKm(), in
			res.Message = fmt.Sprintf("GeoIP says %s, but a minimum RTT of %s from %s bounds the responding endpoint "+
				"to %.0f km of the vantage even at the speed of light (%.0f km per ms of RTT, +%.0f km tolerance; "+
				"ordinary fibre would give about %.0f km), and that reaches only %s: the endpoint cannot be in %s",
				claimed, fmtMs(o.MinRTT), o.Vantage.Name, o.RadiusKm(), KmPerMsRTT, ToleranceKm, o.FibreKm(),
				listCodes(in), claimed)
			return res
		}
		if i == 0 {
			common = slices.Clone(in) // the cache owns in
			continue
		}
		common = slices.DeleteFunc(common, func(c string) bool { return !slices.Contains(in, c) })
	}
	o := discs[0]
	res.Vantage, res.MinRTT, res.RadiusKm, res.DiscCountries = o.Vantage.Name, o.MinRTT, o.RadiusKm(), common
	if o.RadiusKm() > MaxDecisiveRadiusKm {
		res.Class = PhysicsUnverifiable
		res.Message = fmt.Sprintf("the smallest disc (%s from %s, ≤%.0f km) is too big to decide (limit %.0f km)",
			fmtMs(o.MinRTT), o.Vantage.Name, o.RadiusKm(), MaxDecisiveRadiusKm)
		return res
	}
	where := fmt.Sprintf("a minimum RTT of %s from %s bounds the responding endpoint to %.0f km of the vantage at "+
		"the speed of light (ordinary fibre: about %.0f km)", fmtMs(o.MinRTT), o.Vantage.Name, o.RadiusKm(), o.FibreKm())
	if len(discs) > 1 {
		where += fmt.Sprintf(", intersected with the discs from %s", strings.Join(res.Vantages[1:], ", "))
	}
	qualifies := len(common) > 0
	for _, c := range common {
		if c == "" || !r.Qualifies(c) {
			qualifies = false
		}
	}
	if qualifies {
		res.Class = PhysicsEndpointInQualifyingLand
		res.Message = fmt.Sprintf("%s; all land there (%s) is EEA or fully adequate territory on %s. This places "+
			"the endpoint that answered, not the data behind it", where, listCodes(common), r.Date.Format(time.DateOnly))
		return res
	}
	res.Class = PhysicsEndpointNearClaim
	res.Message = fmt.Sprintf("%s, which reaches %s but also %s", where, orUnknown(claimed), listCodes(common))
	return res
}

// PhysicsMethod is the method statement every physics finding carries.
const PhysicsMethod = "Method: each minimum RTT bounds the great-circle distance from its vantage to the " +
	"speed of light over half the round trip, 150 km per ms of RTT, plus 25 km tolerance (ordinary fibre, about " +
	"2/3 c or 100 km per ms, is typical but not a bound: microwave links and hollow-core fibre come close to c). " +
	"A country is inside a disc when the vantage lies in one of its polygons or one of its boundary edges " +
	"(great-circle segments) passes within the radius — an exact test on the simplified boundaries, not " +
	"sampling; with several vantages only countries inside every disc remain (constraint-based geolocation). " +
	"The discs locate the endpoint that answered, not the data: a proxy, load balancer or CDN edge can front a " +
	"backend elsewhere. Sea is ignored: servers stand on land. Boundaries: " + GeometrySource + "."

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
