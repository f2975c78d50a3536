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
	Status    Status
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
			noAdequacy := fmt.Sprintf("recipient %s: no adequacy decision in force on %s", s.Recipient, r.Date.Format(time.DateOnly))
			f.Message = noAdequacy
			switch s.Mechanism.Type {
			case MechanismSCCs, MechanismBCRs:
				f.Compliant, f.Severity = true, SeverityLow
			case MechanismDerogation:
				f.References = refs("GDPR Art. 44", s.Mechanism.Type.Article(), EDPBDerogations)
				f.Message, f.Compliant, f.Severity = judgeDerogation(noAdequacy, declaredText(s.Mechanism), s.Mechanism, s.Category)
			}
		}
		findings = append(findings, f)
		worse(f.Verdict, f.Compliant, f.Severity)
	}
	for c := range countries {
		res.Countries = append(res.Countries, c)
	}
	slices.Sort(res.Countries)
	res.Status = storeStatus(res.Compliant, findings)
	summary := Finding{Store: s.Name, Subject: "store " + s.Name, RuleID: RuleStore, Verdict: res.Verdict,
		Compliant: res.Compliant, Severity: res.Severity,
		References: refs("GDPR Art. 44", "GDPR Art. 5(2)"),
		Message: fmt.Sprintf("store %s (%s, %s, %s data, %s): %s, %s over %d address(es) in %s; a store is as good as its worst address. %s.",
			s.Name, s.Kind, s.Purpose, s.Category, s.Role, res.Verdict, statusWord(res.Status), len(res.Addresses),
			listCodes(res.Countries), DatatilsynetRemote)}
	res.Findings = append([]Finding{summary}, findings...)
	return res
}

// storeStatus: a transfer without a valid basis makes the store not compliant, whatever else is unknown;
// otherwise anything not shown compliant (unknown, anycast, needs review) keeps it from being compliant.
func storeStatus(compliant bool, findings []Finding) Status {
	for _, f := range findings {
		if f.violation() {
			return StatusNotCompliant
		}
	}
	if compliant {
		return StatusCompliant
	}
	return StatusNotShownCompliant
}

func statusWord(s Status) string {
	switch s {
	case StatusCompliant:
		return "compliant"
	case StatusNotCompliant:
		return "NOT compliant"
	}
	return "NOT SHOWN compliant"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// JudgeAddress judges one address on its own. Pure. Each witness (GeoIP databases, cloud ranges, physics)
// has its own check below; the transfer rules then judge every country the witnesses leave standing.
func JudgeAddress(r *Rules, g *Geometry, s Store, host string, res resolver.Resolution, ev AddressEvidence) AddressResult {
	a := newAddressJudge(r, g, s, host, res, ev)
	a.checkGeoIP()
	a.checkMissingCountries()
	a.checkDisagreement()
	a.checkCloud()
	a.checkPhysics()
	a.checkAnycast()
	a.judgeTransfers()
	if a.unknown && a.ar.Verdict.rank() < VerdictUnknown.rank() {
		a.ar.Verdict = VerdictUnknown
		a.ar.Compliant = false
	}
	return a.ar
}

// addressJudge carries what the checks of one address learn, in the order JudgeAddress runs them.
type addressJudge struct {
	r       *Rules
	g       *Geometry
	s       Store
	ev      AddressEvidence
	ar      AddressResult
	subject string
	base    []string            // evidence every finding carries: how the address was reached
	dest    map[string]bool     // candidate destination countries
	located map[string][]string // country → databases saying so
	missing []geoip.Answer      // answers without a country
	anycast string              // why the address is anycast, "" when it is not
	unknown bool                // no witness places the address
	// excluded maps a GeoIP country to the physics result showing the endpoint cannot be there.
	excluded map[string]PhysicsResult
}

func newAddressJudge(r *Rules, g *Geometry, s Store, host string, res resolver.Resolution, ev AddressEvidence) *addressJudge {
	a := &addressJudge{r: r, g: g, s: s, ev: ev,
		ar:      AddressResult{Host: host, Addr: ev.Addr, Verdict: VerdictInEEA, Compliant: true, Severity: SeverityInfo},
		subject: fmt.Sprintf("address %s (host %s)", ev.Addr, host),
		base:    []string{fmt.Sprintf("resolver: %s; %s → %s", orDash(res.Resolver), host, ev.Addr)},
		dest:    map[string]bool{}, located: map[string][]string{}, excluded: map[string]PhysicsResult{}}
	if len(res.CNAMEs) > 0 {
		a.base[0] += " via CNAME " + strings.Join(res.CNAMEs, " → ")
	}
	return a
}

// add records a finding and folds its verdict into the address's.
func (a *addressJudge) add(f Finding) {
	f.Store, f.Subject, f.Host, f.Addr = a.s.Name, a.subject, a.ar.Host, a.ev.Addr
	f.Evidence = append(slices.Clone(a.base), f.Evidence...)
	a.ar.Findings = append(a.ar.Findings, f)
	if f.Verdict != "" && f.Verdict.rank() > a.ar.Verdict.rank() {
		a.ar.Verdict = f.Verdict
	}
	if f.Verdict != "" {
		a.ar.Compliant = a.ar.Compliant && f.Compliant
	}
	a.ar.Severity = maxSeverity(a.ar.Severity, f.Severity)
}

// checkGeoIP collects each database's answer, with findings where the registered or represented country
// differs from the located one.
func (a *addressJudge) checkGeoIP() {
	for _, ans := range a.ev.GeoIP {
		db := dbLabel(ans.Source)
		obs := geoEvidence(ans)
		if ans.Anycast {
			a.anycast = db + " marks the network anycast (traits.is_anycast)"
		}
		if !ans.Found || ans.Country == "" {
			a.missing = append(a.missing, ans)
			continue
		}
		a.located[ans.Country] = append(a.located[ans.Country], db)
		a.dest[ans.Country] = true
		if ans.RegisteredCountry != "" && ans.RegisteredCountry != ans.Country {
			sev := SeverityLow
			if a.r.Qualifies(ans.Country) && !a.r.Qualifies(ans.RegisteredCountry) {
				sev = SeverityMedium
			}
			a.add(Finding{RuleID: RuleRegisteredCountry, Severity: sev, Country: ans.RegisteredCountry,
				References: refs("GDPR Art. 44", "GDPR Art. 48"), Evidence: []string{obs},
				Message: fmt.Sprintf("%s locates %s in %s but the network is registered in %s: the operator may sit in "+
					"another jurisdiction, and access from there is a transfer (Datatilsynet)", db, a.ev.Addr, ans.Country, ans.RegisteredCountry)})
		}
		if ans.RepresentedCountry != "" && ans.RepresentedCountry != ans.Country {
			// The data sits under the represented country's control (e.g. a military base): judge it too.
			a.dest[ans.RepresentedCountry] = true
			a.add(Finding{RuleID: RuleRepresentedCountry, Severity: SeverityMedium, Country: ans.RepresentedCountry,
				References: refs("GDPR Art. 44"), Evidence: []string{obs},
				Message: fmt.Sprintf("%s locates %s in %s but it is represented by %s (%s): judged as a destination in %s too",
					db, a.ev.Addr, ans.Country, ans.RepresentedCountry, orDash(ans.RepresentedType), ans.RepresentedCountry)})
		}
	}
	if op, ok := KnownAnycast(a.ev.Addr); ok && a.anycast == "" {
		a.anycast = "known anycast service: " + op
	}
}

// checkMissingCountries: a database without a country is a finding of its own; the location is unknown
// unless another database places the address.
func (a *addressJudge) checkMissingCountries() {
	for _, ans := range a.missing {
		f := Finding{RuleID: RuleMissingCountry, Severity: SeverityMedium, References: refs("GDPR Art. 5(2)"),
			Evidence: []string{geoEvidence(ans)},
			Message:  fmt.Sprintf("%s has no located country for %s; judged on the other databases' answers", dbLabel(ans.Source), a.ev.Addr)}
		if len(a.located) == 0 {
			f.Verdict, f.Severity = VerdictUnknown, escalate(SeverityHigh, a.s.Category)
			f.Message = fmt.Sprintf("%s has no located country for %s, so its location is unknown", dbLabel(ans.Source), a.ev.Addr)
			a.unknown = true
		}
		a.add(f)
	}
}

func (a *addressJudge) checkDisagreement() {
	if len(a.located) < 2 {
		return
	}
	var parts []string
	for _, c := range sortedKeysSlice(a.located) {
		parts = append(parts, fmt.Sprintf("%s says %s", strings.Join(a.located[c], ", "), c))
	}
	a.add(Finding{RuleID: RuleGeoIPDisagreement, Severity: SeverityMedium, References: refs("GDPR Art. 5(2)"),
		Message: "GeoIP databases disagree (" + strings.Join(parts, "; ") + "); every answer is judged"})
}

// checkCloud uses the provider's published region as a second witness.
func (a *addressJudge) checkCloud() {
	m := a.ev.Cloud
	if m == nil {
		return
	}
	ce := cloudEvidence(*m)
	switch {
	case !m.CountryKnown:
		a.add(Finding{RuleID: RuleCloudRegionUnknown, Severity: SeverityLow, References: refs("GDPR Art. 5(2)"),
			Evidence: []string{ce},
			Message: fmt.Sprintf("%s lies in a %s range for region %q, which the region table cannot place in a country",
				a.ev.Addr, m.Provider, m.Region)})
	case len(a.located) > 0 && !(len(a.located) == 1 && a.located[m.Country] != nil):
		a.dest[m.Country] = true
		a.add(Finding{RuleID: RuleCloudDisagreement, Severity: SeverityMedium, Country: m.Country,
			References: refs("GDPR Art. 5(2)"), Evidence: []string{ce},
			Message: fmt.Sprintf("%s publishes %s in region %s (%s), but GeoIP says %s; both countries are judged",
				m.Provider, m.Prefix, m.Region, m.Country, strings.Join(sortedKeysSlice(a.located), ", "))})
	case len(a.located) == 0:
		a.dest[m.Country] = true
	}
}

// checkPhysics checks every located country against the RTT discs. A GeoIP country the endpoint cannot be
// in stays a destination: the discs place the endpoint, not the data, so their countries never replace it.
func (a *addressJudge) checkPhysics() {
	for _, c := range sortedKeysSlice(a.located) {
		p := ClassifyPhysics(a.r, a.g, c, a.ev.RTT)
		a.ar.Physics = append(a.ar.Physics, p)
		f := Finding{RuleID: RulePhysics, Country: c, Compliant: true, Severity: SeverityInfo,
			References: refs("GDPR Art. 5(2)"), Evidence: rttEvidence(a.ev.RTT),
			Message: fmt.Sprintf("physics check of GeoIP answer %s: %s — %s. %s", c, p.Summary(), p.Message, PhysicsMethod)}
		switch p.Class {
		case PhysicsEndpointSeveralSites:
			f.Severity = SeverityHigh
			if a.anycast == "" {
				a.anycast = p.Message
			}
		case PhysicsEndpointNotInClaim:
			f.Severity = SeverityHigh
			a.excluded[c] = p
		case PhysicsUnverifiable:
			if len(a.ev.RTT) > 0 { // measured, but too far to decide; no RTT at all stays info
				f.Severity = SeverityLow
			}
		}
		a.add(f)
	}
}

func (a *addressJudge) checkAnycast() {
	if a.anycast == "" {
		return
	}
	a.add(Finding{RuleID: RuleAnycast, Verdict: VerdictUnknown, Severity: escalate(SeverityHigh, a.s.Category),
		References: refs("GDPR Art. 5(2)", "GDPR Art. 44"),
		Message: fmt.Sprintf("%s is anycast (%s): it has no single location, the answering site depends on where "+
			"the client is, so a GeoIP country proves nothing; pin the store to unicast addresses or document every site",
			a.ev.Addr, a.anycast)})
	a.unknown = true
}

// judgeTransfers applies the transfer rules to every destination country left standing.
func (a *addressJudge) judgeTransfers() {
	if len(a.dest) == 0 {
		a.unknown = true
		a.dest[""] = true
	}
	for _, c := range sortedKeysSlice(a.dest) {
		j := JudgeCountry(a.r, c, a.s.Mechanism, a.s.Category)
		a.ar.Countries = append(a.ar.Countries, c)
		f := Finding{RuleID: RuleTransfer, Verdict: j.Verdict, Country: c, Compliant: j.Compliant, Severity: j.Severity,
			References: j.References, Message: j.Message}
		if j.Decision != nil {
			f.Decision, f.ScopeCaveat = j.Decision.Reference, j.Decision.Scope
		}
		if p, ok := a.excluded[c]; ok {
			f = a.contradiction(f, p)
		} else if j.Verdict == VerdictInEEA || j.Verdict == VerdictAdequate {
			f.Message += ". " + DatatilsynetRemote
		}
		a.add(f)
	}
}

// contradiction turns the transfer finding for a GeoIP country that physics excludes into "needs review":
// both answers are stated, neither is substituted.
func (a *addressJudge) contradiction(f Finding, p PhysicsResult) Finding {
	f.Verdict, f.Compliant = VerdictNeedsReview, false
	f.Severity = escalate(SeverityHigh, a.s.Category)
	f.References = refs("GDPR Art. 5(2)", "GDPR Art. 44", "GDPR Art. 30(1)(e)")
	f.Message = fmt.Sprintf("not shown compliant: needs review — GeoIP says %s (%s: %s), but physics says %s, "+
		"reaching only %s. Likely causes: a proxy, load balancer or CDN edge near %s in front of a backend elsewhere "+
		"(the endpoint is near, the data need not be); a GeoIP database error or a stale or registration-based "+
		"entry; a tunnel. Neither answer is taken: establish where the data is stored (provider contract, region, "+
		"sub-processor list) and record it", f.Country, strings.Join(a.located[f.Country], ", "), f.Message,
		p.Summary(), listCodes(p.DiscCountries), p.Vantage)
	return f
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
