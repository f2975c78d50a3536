package residency

import (
	"fmt"
	"strings"
	"time"

	"github.com/varde/varde/geoip"
)

// GeoIPBasis says what a GeoIP database's country means.
type GeoIPBasis string

const (
	// BasisLocation: the vendor estimates where the network is used (MaxMind GeoIP2/GeoLite2, DB-IP, IPinfo).
	BasisLocation GeoIPBasis = "location-based"
	// BasisRegistration: the country comes from RIR registration (WHOIS), GeoFeed and ASN data, i.e. where
	// the holder of the addresses is registered, which can be far from where they are used.
	BasisRegistration GeoIPBasis = "registration-based"
)

// Basis classifies a database. The shipped default is geo-whois-asn-country (GeoFeed > WHOIS > ASN, see
// geoip/default/UPSTREAM-README.md); every other database is taken as location-based, as the GeoIP2 and
// GeoLite2 databases varde opens are.
func Basis(p geoip.Provenance) GeoIPBasis {
	if p.Default || strings.Contains(strings.ToLower(p.DatabaseType+" "+p.Path), "whois") {
		return BasisRegistration
	}
	return BasisLocation
}

// AgeDays is the database's age in whole days at t, or -1 when it has no build date.
func AgeDays(p geoip.Provenance, t time.Time) int {
	if p.BuildEpoch.IsZero() {
		return -1
	}
	return int(t.Sub(p.BuildEpoch).Hours() / 24)
}

// JudgeSources judges the GeoIP databases an audit used, at the time of the lookups: one older than
// the policy allows, and a registration-based one, are findings. Pure.
func JudgeSources(r *Rules, lookedUp time.Time, srcs []geoip.Provenance) []Finding {
	var out []Finding
	for _, p := range srcs {
		subject := "GeoIP database " + p.Path
		ev := []string{ProvenanceLine(p, lookedUp)}
		switch age := AgeDays(p, lookedUp); {
		case age < 0:
			out = append(out, Finding{Subject: subject, RuleID: RuleGeoIPStale, Severity: SeverityMedium,
				References: refs("GDPR Art. 5(1)(d)", "GDPR Art. 5(2)"), Evidence: ev,
				Message: fmt.Sprintf("%s has no build date, so its age cannot be shown (policy geoip_max_age_days %d)",
					p.Path, r.Policy.GeoIPMaxAgeDays)})
		case age > r.Policy.GeoIPMaxAgeDays:
			out = append(out, Finding{Subject: subject, RuleID: RuleGeoIPStale, Severity: SeverityMedium,
				References: refs("GDPR Art. 5(1)(d)", "GDPR Art. 5(2)"), Evidence: ev,
				Message: fmt.Sprintf("%s (%s) was built %s, %d days before the lookups: older than the %d days policy "+
					"geoip_max_age_days allows; GeoIP corrections take one to two months to arrive, so its answers "+
					"may be out of date — install a current database (geoipupdate)", p.Path, p.DatabaseType,
					p.BuildEpoch.UTC().Format(time.DateOnly), age, r.Policy.GeoIPMaxAgeDays)})
		}
		if Basis(p) == BasisRegistration {
			out = append(out, Finding{Subject: subject, RuleID: RuleGeoIPRegistration, Severity: SeverityLow,
				References: refs("GDPR Art. 5(2)"), Evidence: ev,
				Message: fmt.Sprintf("%s is registration-based (RIR WHOIS, GeoFeed and ASN data): its country is where the "+
					"address holder is registered, not where the server stands, and its upstream README warns that the "+
					"published data contains errors. Use a location-based database (e.g. MaxMind GeoIP2 via "+
					"geoipupdate) for evidence a DPO signs", p.Path)})
		}
	}
	return out
}

// ProvenanceLine states a database's type, build date, age at t, basis and digest.
func ProvenanceLine(p geoip.Provenance, t time.Time) string {
	age := "age unknown"
	if d := AgeDays(p, t); d >= 0 {
		age = fmt.Sprintf("%d days old on %s", d, t.UTC().Format(time.DateOnly))
	}
	built := "-"
	if !p.BuildEpoch.IsZero() {
		built = p.BuildEpoch.UTC().Format(time.DateOnly)
	}
	return fmt.Sprintf("geoip %s (%s), built %s, %s, %s, sha256 %s", orDash(p.DatabaseType), p.Path, built, age, Basis(p), orDash(p.SHA256))
}
