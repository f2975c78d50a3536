package residency

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Verdict is the legal outcome for one destination.
type Verdict string

const (
	VerdictInEEA    Verdict = "in_eea"
	VerdictAdequate Verdict = "adequate"
	// VerdictMechanismRequired: a third country without (full) adequacy; compliant only with a declared
	// Art. 46, 47 or 49 mechanism.
	VerdictMechanismRequired Verdict = "transfer_mechanism_required"
	VerdictUnknown           Verdict = "unknown"
)

// rank orders verdicts from best to worst, for "a store is as good as its worst address".
func (v Verdict) rank() int {
	switch v {
	case VerdictInEEA:
		return 0
	case VerdictAdequate:
		return 1
	case VerdictMechanismRequired:
		return 2
	}
	return 3
}

// Severity of a finding.
type Severity string

const (
	SeverityInfo     Severity = "info"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

var severityOrder = []Severity{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Severities lists every severity, most severe first.
func Severities() []Severity {
	out := slices.Clone(severityOrder)
	slices.Reverse(out)
	return out
}

func (s Severity) rank() int { return slices.Index(severityOrder, s) }

func maxSeverity(a, b Severity) Severity {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// escalate raises a non-compliant severity one step for special categories of data (Art. 9).
func escalate(s Severity, cat DataCategory) Severity {
	if cat == Special && s.rank() >= SeverityMedium.rank() && s != SeverityCritical {
		return severityOrder[s.rank()+1]
	}
	return s
}

// Rule IDs of the findings.
const (
	RuleTransfer           = "residency.transfer"            // one destination country of one address
	RuleStore              = "residency.store"               // the store's overall verdict
	RuleRecipient          = "residency.recipient"           // a declared international organisation
	RuleUnresolvable       = "residency.unresolvable"        // the host does not resolve
	RuleNoAddress          = "residency.no_address"          // it resolves to no address
	RuleMissingCountry     = "residency.missing_country"     // GeoIP has no country
	RuleAnycast            = "residency.anycast"             // traits.is_anycast or a known anycast prefix
	RuleRegisteredCountry  = "residency.registered_country"  // registered ≠ located
	RuleRepresentedCountry = "residency.represented_country" // e.g. a military base abroad
	RuleGeoIPDisagreement  = "residency.geoip_disagreement"  // two databases, two countries
	RuleCloudDisagreement  = "residency.cloud_disagreement"  // provider region ≠ GeoIP
	RuleCloudRegionUnknown = "residency.cloud_region_unknown"
	RulePhysics            = "residency.physics"
)

// Finding is a judgement made by a rule, with the evidence it rests on.
type Finding struct {
	Store   string     `json:"store"`
	Subject string     `json:"subject"` // "store NAME", "host H", or "address A (host H)"
	Host    string     `json:"host"`    // "" for store-level findings
	Addr    netip.Addr `json:"addr"`    // invalid for store- and host-level findings
	RuleID  string     `json:"rule_id"`
	// Verdict is set on transfer, store and unknown-location findings; evidence-quality findings leave it "".
	Verdict    Verdict  `json:"verdict"`
	Country    string   `json:"country"` // destination country, ISO alpha-2, where the finding is about one
	Compliant  bool     `json:"compliant"`
	Severity   Severity `json:"severity"`
	References []string `json:"references"` // GDPR articles, Personopplysningsloven § 1, decisions
	// Decision is the adequacy decision relied on, if any.
	Decision string `json:"decision"`
	// ScopeCaveat is the partial scope of that decision ("" when it is a full decision).
	ScopeCaveat string   `json:"scope_caveat"`
	Message     string   `json:"message"`
	Evidence    []string `json:"evidence"`
}

func refs(extra ...string) []string { return append(extra, NorwegianAct) }

// CountryJudgement is the rule for one destination country under a declared mechanism.
type CountryJudgement struct {
	Country    string
	Verdict    Verdict
	Compliant  bool
	Severity   Severity
	Decision   *AdequacyDecision
	References []string
	Message    string
}

// JudgeCountry applies the rules table to one destination country. Pure.
func JudgeCountry(r *Rules, code string, m Mechanism, cat DataCategory) CountryJudgement {
	j := CountryJudgement{Country: code}
	date := r.Date.Format(time.DateOnly)
	declared := "none declared"
	if m.Type != MechanismNone {
		declared = fmt.Sprintf("%s (%s, ref. %s)", m.Type, m.Type.Article(), m.Reference)
	}
	switch {
	case code == "":
		j.Verdict, j.Severity = VerdictUnknown, SeverityHigh
		j.References = refs("GDPR Art. 5(2)", "GDPR Art. 44")
		j.Message = "destination country unknown: the controller cannot demonstrate where the data is (accountability)"
	case r.InEEA(code):
		j.Verdict, j.Compliant, j.Severity = VerdictInEEA, true, SeverityInfo
		j.References = refs("GDPR Art. 44 (no Chapter V transfer inside the EEA)")
		j.Message = fmt.Sprintf("%s is EEA territory on %s; no transfer mechanism is needed for storage there", code, date)
	default:
		if a, ok := r.Adequacy(code); ok && (!a.Partial() || m.Type == MechanismNone || m.Type == MechanismAdequacy) {
			j.Decision = &a
			j.Verdict = VerdictAdequate
			j.References = refs("GDPR Art. 45(3)", a.Reference)
			eea := ""
			switch a.EEA {
			case EEAPending:
				eea = "; EEA incorporation pending (" + a.EEANote + ") — the Commission applies it to EEA flows but the EEA Agreement does not yet bind Norway to it"
			case EEANotVerified:
				eea = "; EEA incorporation date not verified in the rules table"
			}
			if !a.Partial() {
				j.Compliant, j.Severity = true, SeverityInfo
				if a.EEA == EEAPending {
					j.Severity = SeverityLow
				}
				j.Message = fmt.Sprintf("%s: adequacy decision %s (adopted %s) in force on %s%s",
					code, a.Reference, a.Adopted.Format(time.DateOnly), date, eea)
				break
			}
			// A partial decision covers only some recipients; the inventory must say the recipient is one.
			scope := fmt.Sprintf("%s: adequacy decision %s covers %s%s", code, a.Reference, a.Scope, eea)
			if m.Type == MechanismNone {
				// Without a declaration the decision cannot be relied on: the transfer needs a basis like any
				// transfer to a country without adequacy, and none is declared.
				j.Verdict = VerdictMechanismRequired
				j.Severity = escalate(SeverityHigh, cat)
				j.References = refs("GDPR Art. 44", "GDPR Art. 45(3)", a.Reference, "GDPR Art. 46")
				j.Message = scope + "; the inventory declares no mechanism, so it is not shown that the recipient is covered: a transfer mechanism is required — declare adequacy with the certification reference (e.g. the Data Privacy Framework list entry), or SCCs/BCRs"
				break
			}
			j.Compliant, j.Severity = true, SeverityLow
			j.References = append(j.References, m.Type.Article())
			j.Message = scope + "; declared: " + declared
			break
		}
		// No adequacy decision, or a partial one the inventory does not rely on.
		noAdequacy := fmt.Sprintf("%s has no adequacy decision on %s", code, date)
		if a, ok := r.Adequacy(code); ok {
			noAdequacy = fmt.Sprintf("%s: adequacy decision %s covers %s, and the inventory relies on another mechanism", code, a.Reference, a.Scope)
		}
		j.Verdict = VerdictMechanismRequired
		j.References = refs("GDPR Art. 44", "GDPR Art. 46", "GDPR Art. 47", "GDPR Art. 49")
		switch m.Type {
		case MechanismSCCs, MechanismBCRs:
			j.Compliant, j.Severity = true, SeverityLow
			j.References = refs("GDPR Art. 44", m.Type.Article())
			j.Message = fmt.Sprintf("%s; transfer rests on %s — a transfer impact assessment and supplementary measures (Schrems II) are needed", noAdequacy, declared)
		case MechanismDerogation:
			j.Compliant, j.Severity = true, SeverityMedium
			j.References = refs("GDPR Art. 44", m.Type.Article())
			j.Message = fmt.Sprintf("%s; transfer rests on a derogation, %s — Art. 49 is read narrowly and does not fit regular, repeated transfers", noAdequacy, declared)
		case MechanismAdequacy:
			j.Severity = escalate(SeverityHigh, cat)
			j.References = refs("GDPR Art. 44", "GDPR Art. 45")
			j.Message = fmt.Sprintf("%s: the inventory declares adequacy (ref. %s) but no adequacy decision for %s is in force on %s — violation", code, m.Reference, code, date)
		default:
			j.Severity = escalate(SeverityHigh, cat)
			j.Message = fmt.Sprintf("%s has no adequacy decision on %s and the inventory declares no Art. 46/47/49 mechanism — violation of GDPR Art. 44", code, date)
		}
	}
	if cat == Special {
		j.References = append(j.References, "GDPR Art. 9")
	}
	return j
}
