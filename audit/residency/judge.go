package residency

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/varde/varde/geoip"
	"github.com/varde/varde/geoip/cloud"
	"github.com/varde/varde/resolver"
)

// AddressEvidence is everything observed about one address.
type AddressEvidence struct {
	Addr  netip.Addr
	GeoIP []geoip.Answer // one per database, in the order given
	Cloud *cloud.Match   // nil when no provider range holds the address
	RTT   []RTTObservation
}

// HostEvidence is one host of a store and what it resolved to. Err is the resolver's error, if any.
type HostEvidence struct {
	Host       string
	Resolution resolver.Resolution
	Err        error
	Addrs      []AddressEvidence
}

// AddressResult is the judgement of one address.
type AddressResult struct {
	Host      string
	Addr      netip.Addr
	Verdict   Verdict
	Compliant bool
	Severity  Severity
	Countries []string // destination countries considered
	Physics   []PhysicsResult
	Findings  []Finding
}

// StoreResult is the judgement of one store: as good as its worst address.
type StoreResult struct {
	Store     Store
	Verdict   Verdict
	Compliant bool
	Severity  Severity
	Countries []string
	Hosts     []HostEvidence
	Addresses []AddressResult
	Findings  []Finding // every finding for the store, the store-level one first
}

// JudgeStore judges one store from its evidence. Pure: rules, geometry and evidence in, findings out.
func JudgeStore(r *Rules, g *Geometry, s Store, hosts []HostEvidence) StoreResult {
	res := StoreResult{Store: s, Verdict: VerdictInEEA, Compliant: true, Severity: SeverityInfo, Hosts: hosts}
	var findings []Finding
	countries := map[string]bool{}
	worse := func(v Verdict, compliant bool, sev Severity) {
		if v.rank() > res.Verdict.rank() {
			res.Verdict = v
		}
		res.Compliant = res.Compliant && compliant
		res.Severity = maxSeverity(res.Severity, sev)
	}
	for _, h := range hosts {
		subject := "host " + h.Host
		switch {
		case h.Err != nil:
			sev := escalate(SeverityHigh, s.Category)
			findings = append(findings, Finding{Store: s.Name, Subject: subject, Host: h.Host, RuleID: RuleUnresolvable,
				Verdict: VerdictUnknown, Severity: sev, References: refs("GDPR Art. 5(2)", "GDPR Art. 30(1)(e)"),
				Message:  fmt.Sprintf("%s does not resolve, so where the data is cannot be shown: %v", h.Host, h.Err),
				Evidence: []string{"resolver: " + orDash(h.Resolution.Resolver)}})
			worse(VerdictUnknown, false, sev)
			continue
		case len(h.Addrs) == 0:
			sev := escalate(SeverityHigh, s.Category)
			findings = append(findings, Finding{Store: s.Name, Subject: subject, Host: h.Host, RuleID: RuleNoAddress,
				Verdict: VerdictUnknown, Severity: sev, References: refs("GDPR Art. 5(2)"),
				Message:  fmt.Sprintf("%s resolved to no A or AAAA address", h.Host),
				Evidence: []string{"resolver: " + orDash(h.Resolution.Resolver)}})
			worse(VerdictUnknown, false, sev)
			continue
		}
		for _, a := range h.Addrs {
			ar := JudgeAddress(r, g, s, h.Host, h.Resolution, a)
			res.Addresses = append(res.Addresses, ar)
			findings = append(findings, ar.Findings...)
			for _, c := range ar.Countries {
				countries[c] = true
			}
			worse(ar.Verdict, ar.Compliant, ar.Severity)
		}
	}
	if s.Recipient != "" {
		f := Finding{Store: s.Name, Subject: "store " + s.Name, RuleID: RuleRecipient}
		if a, ok := r.Organisation(s.Recipient); ok {
			f.Verdict, f.Compliant, f.Severity = VerdictAdequate, true, SeverityInfo
			f.References = refs("GDPR Art. 45(3)", a.Reference)
			f.Decision = a.Reference
			f.Message = fmt.Sprintf("recipient %s (an international organisation): adequacy decision %s in force on %s",
				a.Recipient, a.Reference, r.Date.Format(time.DateOnly))
		} else {
			f.Verdict, f.Severity = VerdictMechanismRequired, escalate(SeverityHigh, s.Category)
			f.References = refs("GDPR Art. 44", "GDPR Art. 46")
			f.Compliant = s.Mechanism.Type == MechanismSCCs || s.Mechanism.Type == MechanismBCRs || s.Mechanism.Type == MechanismDerogation
			if f.Compliant {
				f.Severity = SeverityLow
			}
			f.Message = fmt.Sprintf("recipient %s: no adequacy decision in force on %s", s.Recipient, r.Date.Format(time.DateOnly))
		}
		findings = append(findings, f)
		worse(f.Verdict, f.Compliant, f.Severity)
	}
	for c := range countries {
		res.Countries = append(res.Countries, c)
	}
	slices.Sort(res.Countries)
	summary := Finding{Store: s.Name, Subject: "store " + s.Name, RuleID: RuleStore, Verdict: res.Verdict,
		Compliant: res.Compliant, Severity: res.Severity,
		References: refs("GDPR Art. 44", "GDPR Art. 5(2)"),
		Message: fmt.Sprintf("store %s (%s, %s, %s data, %s): %s, %s over %d address(es) in %s; a store is as good as its worst address. %s.",
			s.Name, s.Kind, s.Purpose, s.Category, s.Role, res.Verdict, compliantWord(res.Compliant), len(res.Addresses),
			listCodes(res.Countries), DatatilsynetRemote)}
	res.Findings = append([]Finding{summary}, findings...)
	return res
}

func compliantWord(ok bool) string {
	if ok {
		return "compliant"
	}
	return "NOT compliant"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// JudgeAddress judges one address on its own. Pure.
func JudgeAddress(r *Rules, g *Geometry, s Store, host string, res resolver.Resolution, ev AddressEvidence) AddressResult {
	ar := AddressResult{Host: host, Addr: ev.Addr, Verdict: VerdictInEEA, Compliant: true, Severity: SeverityInfo}
	subject := fmt.Sprintf("address %s (host %s)", ev.Addr, host)
	base := []string{fmt.Sprintf("resolver: %s; %s → %s", orDash(res.Resolver), host, ev.Addr)}
	if len(res.CNAMEs) > 0 {
		base[0] += " via CNAME " + strings.Join(res.CNAMEs, " → ")
	}
	add := func(f Finding) {
		f.Store, f.Subject, f.Host, f.Addr = s.Name, subject, host, ev.Addr
		f.Evidence = append(slices.Clone(base), f.Evidence...)
		ar.Findings = append(ar.Findings, f)
		if f.Verdict != "" && f.Verdict.rank() > ar.Verdict.rank() {
			ar.Verdict = f.Verdict
		}
		if f.Verdict != "" {
			ar.Compliant = ar.Compliant && f.Compliant
		}
		ar.Severity = maxSeverity(ar.Severity, f.Severity)
	}

	dest := map[string]bool{} // candidate destination countries
	unknown := false
	located := map[string][]string{} // country → databases saying so
	anycast := ""
	var missing []geoip.Answer
	for _, a := range ev.GeoIP {
		db := dbLabel(a.Source)
		obs := geoEvidence(a)
		if a.Anycast {
			anycast = db + " marks the network anycast (traits.is_anycast)"
		}
		if !a.Found || a.Country == "" {
			missing = append(missing, a)
			continue
		}
		located[a.Country] = append(located[a.Country], db)
		dest[a.Country] = true
		if a.RegisteredCountry != "" && a.RegisteredCountry != a.Country {
			sev := SeverityLow
			if r.Qualifies(a.Country) && !r.Qualifies(a.RegisteredCountry) {
				sev = SeverityMedium
			}
			add(Finding{RuleID: RuleRegisteredCountry, Severity: sev, Country: a.RegisteredCountry,
				References: refs("GDPR Art. 44", "GDPR Art. 48"), Evidence: []string{obs},
				Message: fmt.Sprintf("%s locates %s in %s but the network is registered in %s: the operator may sit in "+
					"another jurisdiction, and access from there is a transfer (Datatilsynet)", db, ev.Addr, a.Country, a.RegisteredCountry)})
		}
		if a.RepresentedCountry != "" && a.RepresentedCountry != a.Country {
			// The data sits under the represented country's control (e.g. a military base): judge it too.
			dest[a.RepresentedCountry] = true
			add(Finding{RuleID: RuleRepresentedCountry, Severity: SeverityMedium, Country: a.RepresentedCountry,
				References: refs("GDPR Art. 44"), Evidence: []string{obs},
				Message: fmt.Sprintf("%s locates %s in %s but it is represented by %s (%s): judged as a destination in %s too",
					db, ev.Addr, a.Country, a.RepresentedCountry, orDash(a.RepresentedType), a.RepresentedCountry)})
		}
	}
	// A database without a country is a finding of its own; the location is unknown unless another
	// database places the address.
	for _, a := range missing {
		f := Finding{RuleID: RuleMissingCountry, Severity: SeverityMedium, References: refs("GDPR Art. 5(2)"),
			Evidence: []string{geoEvidence(a)},
			Message:  fmt.Sprintf("%s has no located country for %s; judged on the other databases' answers", dbLabel(a.Source), ev.Addr)}
		if len(located) == 0 {
			f.Verdict, f.Severity = VerdictUnknown, escalate(SeverityHigh, s.Category)
			f.Message = fmt.Sprintf("%s has no located country for %s, so its location is unknown", dbLabel(a.Source), ev.Addr)
			unknown = true
		}
		add(f)
	}
	if op, ok := KnownAnycast(ev.Addr); ok && anycast == "" {
		anycast = "known anycast service: " + op
	}
	if len(located) > 1 {
		var parts []string
		for _, c := range sortedKeysSlice(located) {
			parts = append(parts, fmt.Sprintf("%s says %s", strings.Join(located[c], ", "), c))
		}
		add(Finding{RuleID: RuleGeoIPDisagreement, Severity: SeverityMedium, References: refs("GDPR Art. 5(2)"),
			Message: "GeoIP databases disagree (" + strings.Join(parts, "; ") + "); every answer is judged"})
	}
	if m := ev.Cloud; m != nil {
		ce := cloudEvidence(*m)
		switch {
		case !m.CountryKnown:
			add(Finding{RuleID: RuleCloudRegionUnknown, Severity: SeverityLow, References: refs("GDPR Art. 5(2)"),
				Evidence: []string{ce},
				Message: fmt.Sprintf("%s lies in a %s range for region %q, which the region table cannot place in a country",
					ev.Addr, m.Provider, m.Region)})
		case len(located) > 0 && !(len(located) == 1 && located[m.Country] != nil):
			dest[m.Country] = true
			add(Finding{RuleID: RuleCloudDisagreement, Severity: SeverityMedium, Country: m.Country,
				References: refs("GDPR Art. 5(2)"), Evidence: []string{ce},
				Message: fmt.Sprintf("%s publishes %s in region %s (%s), but GeoIP says %s; both countries are judged",
					m.Provider, m.Prefix, m.Region, m.Country, strings.Join(sortedKeysSlice(located), ", "))})
		case len(located) == 0:
			dest[m.Country] = true
		}
	}
	// Physics: check every located country against the RTT discs.
	for _, c := range sortedKeysSlice(located) {
		p := ClassifyPhysics(r, g, c, ev.RTT)
		ar.Physics = append(ar.Physics, p)
		f := Finding{RuleID: RulePhysics, Country: c, Compliant: true, Severity: SeverityInfo,
			References: refs("GDPR Art. 5(2)"), Evidence: rttEvidence(ev.RTT),
			Message: fmt.Sprintf("physics check of GeoIP answer %s: %s — %s. %s", c, p.Class, p.Message, PhysicsMethod)}
		switch p.Class {
		case PhysicsContradicted:
			f.Severity = SeverityHigh
			if p.SplitSites && anycast == "" {
				anycast = p.Message
			}
			if !p.SplitSites {
				// The GeoIP answer is impossible; the address lies somewhere in the disc: judge that land instead.
				delete(dest, c)
				for _, dc := range p.DiscCountries {
					dest[dc] = true
				}
			}
		case PhysicsUnverifiable:
			if len(ev.RTT) > 0 { // measured, but too far to decide; no RTT at all stays info
				f.Severity = SeverityLow
			}
		}
		add(f)
	}
	if anycast != "" {
		add(Finding{RuleID: RuleAnycast, Verdict: VerdictUnknown, Severity: escalate(SeverityHigh, s.Category),
			References: refs("GDPR Art. 5(2)", "GDPR Art. 44"),
			Message: fmt.Sprintf("%s is anycast (%s): it has no single location, the answering site depends on where "+
				"the client is, so a GeoIP country proves nothing; pin the store to unicast addresses or document every site",
				ev.Addr, anycast)})
		unknown = true
	}
	if len(dest) == 0 && !unknown {
		unknown = true
	}
	if unknown && len(dest) == 0 {
		dest[""] = true
	}
	for _, c := range sortedKeysSlice(dest) {
		j := JudgeCountry(r, c, s.Mechanism, s.Category)
		ar.Countries = append(ar.Countries, c)
		msg := j.Message
		if j.Verdict == VerdictInEEA || j.Verdict == VerdictAdequate {
			msg += ". " + DatatilsynetRemote
		}
		f := Finding{RuleID: RuleTransfer, Verdict: j.Verdict, Country: c, Compliant: j.Compliant, Severity: j.Severity,
			References: j.References, Message: msg}
		if j.Decision != nil {
			f.Decision, f.ScopeCaveat = j.Decision.Reference, j.Decision.Scope
		}
		add(f)
	}
	if unknown && ar.Verdict.rank() < VerdictUnknown.rank() {
		ar.Verdict = VerdictUnknown
		ar.Compliant = false
	}
	return ar
}

func sortedKeysSlice[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func dbLabel(p geoip.Provenance) string {
	return fmt.Sprintf("%s (%s)", p.DatabaseType, p.Path)
}

func geoEvidence(a geoip.Answer) string {
	return fmt.Sprintf("geoip %s build %s sha256 %s: %s in %s → found=%t country=%q registered=%q represented=%q anycast=%t",
		a.Source.DatabaseType, a.Source.BuildEpoch.UTC().Format(time.RFC3339), a.Source.SHA256, a.Addr, a.Network,
		a.Found, a.Country, a.RegisteredCountry, a.RepresentedCountry, a.Anycast)
}

func cloudEvidence(m cloud.Match) string {
	return fmt.Sprintf("cloud %s %s sha256 %s version %s: %s service %s region %q country %q",
		m.Provider, m.Source.Path, m.Source.SHA256, m.Source.Version, m.Prefix, m.Service, m.Region, m.Country)
}

func rttEvidence(rtts []RTTObservation) []string {
	var out []string
	for _, o := range rtts {
		out = append(out, fmt.Sprintf("rtt from %s (%.4f, %.4f): min %s over %d replies at %s", o.Vantage.Name,
			o.Vantage.Lat, o.Vantage.Lon, fmtMs(o.MinRTT), o.Received, o.MeasuredAt.UTC().Format(time.RFC3339)))
	}
	return out
}
