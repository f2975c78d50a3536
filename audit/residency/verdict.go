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
	// VerdictNeedsReview: the witnesses contradict each other, or a declaration or policy is missing or stale;
	// not shown compliant until someone establishes the facts.
	VerdictNeedsReview Verdict = "needs_review"
	VerdictUnknown     Verdict = "unknown"
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
	case VerdictNeedsReview:
		return 3
	}
	return 4
}

// Status is the headline outcome of a store, as a DPO signs it. Unknown and needs-review are "not shown
// compliant", never folded into a softer word: GDPR Art. 5(2) puts the burden of showing on the controller.
type Status string

const (
	StatusCompliant         Status = "compliant"
	StatusNotCompliant      Status = "not_compliant"
	StatusNotShownCompliant Status = "not_shown_compliant"
)

// Statuses lists the headline statuses in the order reports show them.
func Statuses() []Status {
	return []Status{StatusCompliant, StatusNotCompliant, StatusNotShownCompliant}
}

// violation reports whether a finding shows a transfer without a valid basis: a verdict that needs a
// mechanism and does not have one.
func (f Finding) violation() bool { return f.Verdict == VerdictMechanismRequired && !f.Compliant }

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
	RuleGeoIPStale         = "residency.geoip_stale"        // database older than the policy allows
	RuleGeoIPRegistration  = "residency.geoip_registration" // database places by registration, not location
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

// dpfDecision is the ID of the EU-US Data Privacy Framework decision, whose reliance needs a dated listing.
const dpfDecision = "US-DPF"

// JudgeCountry applies the rules table and the rules' policy to one destination country. Pure.
func JudgeCountry(r *Rules, code string, m Mechanism, cat DataCategory) CountryJudgement {
	var j CountryJudgement
	switch a, adequate := r.Adequacy(code); {
	case code == "":
		j = judgeUnknownCountry()
	case code == SvalbardJanMayen && r.Policy.SvalbardJanMayen != SJThirdCountry:
		j = judgeSvalbard(r, m, cat)
	case r.InEEA(code):
		j = judgeEEA(r, code)
	case adequate && !a.Partial():
		j = judgeFullAdequacy(r, code, a)
	case adequate && m.Type == MechanismAdequacy:
		j = judgeScopedAdequacy(r, code, a, m, cat)
	case adequate && m.Type == MechanismNone:
		j = judgeScopedUndeclared(code, a, cat)
	default:
		j = judgeWithoutAdequacy(r, code, m, cat)
	}
	j.Country = code
	if cat == Special {
		j.References = append(j.References, "GDPR Art. 9")
	}
	return j
}

func judgeUnknownCountry() CountryJudgement {
	return CountryJudgement{Verdict: VerdictUnknown, Severity: SeverityHigh,
		References: refs("GDPR Art. 5(2)", "GDPR Art. 44"),
		Message:    "destination country unknown: the controller cannot demonstrate where the data is (accountability)"}
}

func judgeEEA(r *Rules, code string) CountryJudgement {
	return CountryJudgement{Verdict: VerdictInEEA, Compliant: true, Severity: SeverityInfo,
		References: refs("GDPR Art. 44 (no Chapter V transfer inside the EEA)"),
		Message: fmt.Sprintf("%s is EEA territory on %s; no transfer mechanism is needed for storage there",
			code, r.Date.Format(time.DateOnly))}
}

// svalbardRefs are the sources of the Svalbard and Jan Mayen policy.
var svalbardRefs = []string{"EEA Agreement Protocol 40 (Svalbard)", "Personopplysningsloven § 4 (geographic scope)"}

func judgeSvalbard(r *Rules, m Mechanism, cat DataCategory) CountryJudgement {
	const where = "SJ (Svalbard and Jan Mayen): the EEA Agreement does not apply to Svalbard (Protocol 40), " +
		"Jan Mayen is not excluded, and GeoIP does not tell them apart; whether the Personal Data Act " +
		"applies follows from its § 4 and regulations under it"
	if r.Policy.SvalbardJanMayen == SJNorway {
		return CountryJudgement{Verdict: VerdictInEEA, Compliant: true, Severity: SeverityLow,
			References: refs(svalbardRefs...),
			Message:    where + "; policy svalbard_jan_mayen=norway treats it as Norway — the DPO's documented call"}
	}
	return CountryJudgement{Verdict: VerdictNeedsReview, Severity: escalate(SeverityMedium, cat),
		References: refs(svalbardRefs...),
		Message: where + "; not shown compliant: needs review — the DPO decides and records it as policy " +
			"svalbard_jan_mayen (norway or third_country); declared: " + declaredText(m)}
}

func declaredText(m Mechanism) string {
	if m.Type == MechanismNone {
		return "none declared"
	}
	return fmt.Sprintf("%s (%s, ref. %s)", m.Type, m.Type.Article(), m.Reference)
}

// eeaCaveat describes a decision's EEA incorporation, and whether policy lets a Norwegian controller rely
// on it yet.
func eeaCaveat(r *Rules, a AdequacyDecision) (text string, rely bool) {
	switch a.EEA {
	case EEAPending:
		text = "; EEA incorporation pending (" + a.EEANote + ") — the Commission applies it to EEA flows but the EEA Agreement does not yet bind Norway to it"
		if r.Policy.EEAPending == EEAPendingNeedsReview {
			return text + "; policy eea_pending=needs_review: not relied on until incorporated", false
		}
		return text + "; relied on under policy eea_pending=rely", true
	case EEANotVerified:
		return fmt.Sprintf("; its incorporation into the EEA Agreement was not confirmed when last checked (%s)",
			a.EEAChecked.Format(time.DateOnly)), true
	}
	return "", true
}

func judgeFullAdequacy(r *Rules, code string, a AdequacyDecision) CountryJudgement {
	eea, rely := eeaCaveat(r, a)
	j := CountryJudgement{Verdict: VerdictAdequate, Compliant: true, Severity: SeverityInfo, Decision: &a,
		References: refs("GDPR Art. 45(3)", a.Reference),
		Message: fmt.Sprintf("%s: adequacy decision %s (adopted %s) in force on %s%s",
			code, a.Reference, a.Adopted.Format(time.DateOnly), r.Date.Format(time.DateOnly), eea)}
	if a.EEA == EEAPending {
		j.Severity = SeverityLow
	}
	if !rely {
		j.Verdict, j.Compliant, j.Severity = VerdictNeedsReview, false, SeverityMedium
	}
	return j
}

// judgeScopedUndeclared: a partial decision without a declaration cannot be relied on; the transfer needs
// a basis like any transfer to a country without adequacy, and none is declared.
func judgeScopedUndeclared(code string, a AdequacyDecision, cat DataCategory) CountryJudgement {
	return CountryJudgement{Verdict: VerdictMechanismRequired, Severity: escalate(SeverityHigh, cat), Decision: &a,
		References: refs("GDPR Art. 44", "GDPR Art. 45(3)", a.Reference, "GDPR Art. 46"),
		Message: fmt.Sprintf("%s: adequacy decision %s covers %s; the inventory declares no mechanism, so it is "+
			"not shown that the recipient is covered: a transfer mechanism is required — declare adequacy with "+
			"the coverage (and for the DPF the listing and the date it was checked), or SCCs/BCRs", code, a.Reference, a.Scope)}
}

// judgeScopedAdequacy: the inventory relies on a partial decision. It must say how the recipient is covered;
// a DPF declaration must name the participant listing and when it was last checked, and goes stale.
func judgeScopedAdequacy(r *Rules, code string, a AdequacyDecision, m Mechanism, cat DataCategory) CountryJudgement {
	eea, rely := eeaCaveat(r, a)
	scope := fmt.Sprintf("%s: adequacy decision %s covers %s%s; declared: %s", code, a.Reference, a.Scope, eea, declaredText(m))
	j := CountryJudgement{Verdict: VerdictAdequate, Compliant: true, Severity: SeverityLow, Decision: &a,
		References: refs("GDPR Art. 45(3)", a.Reference, m.Type.Article())}
	review := func(why string) CountryJudgement {
		j.Verdict, j.Compliant, j.Severity = VerdictNeedsReview, false, escalate(SeverityHigh, cat)
		j.References = append(j.References, "GDPR Art. 5(2)")
		j.Message = scope + "; not shown compliant: needs review — " + why
		return j
	}
	switch {
	case m.Coverage == "":
		return review("the inventory does not state how the recipient falls within the decision's scope (transfer_mechanism coverage)")
	case a.ID == dpfDecision && m.CheckedOn.IsZero():
		return review("a Data Privacy Framework declaration must name the participant listing (reference) and the date it was last checked (checked_on)")
	case a.ID == dpfDecision:
		age := int(r.Date.Sub(m.CheckedOn).Hours() / 24)
		if age < 0 {
			return review(fmt.Sprintf("the DPF listing is dated %s, after the audit date", m.CheckedOn.Format(time.DateOnly)))
		}
		if age > r.Policy.DPFMaxAgeDays {
			return review(fmt.Sprintf("the DPF listing was last checked on %s, %d days before %s: stale after %d days "+
				"(policy dpf_max_age_days); check the participant's status on dataprivacyframework.gov",
				m.CheckedOn.Format(time.DateOnly), age, r.Date.Format(time.DateOnly), r.Policy.DPFMaxAgeDays))
		}
		scope += fmt.Sprintf("; listing checked %s (%d days before)", m.CheckedOn.Format(time.DateOnly), age)
	}
	if !rely {
		j.Verdict, j.Compliant, j.Severity = VerdictNeedsReview, false, SeverityMedium
	}
	j.Message = scope + "; coverage: " + m.Coverage
	return j
}

// judgeWithoutAdequacy: no adequacy decision, or a partial one the inventory does not rely on.
func judgeWithoutAdequacy(r *Rules, code string, m Mechanism, cat DataCategory) CountryJudgement {
	date := r.Date.Format(time.DateOnly)
	noAdequacy := fmt.Sprintf("%s has no adequacy decision on %s", code, date)
	if a, ok := r.Adequacy(code); ok {
		noAdequacy = fmt.Sprintf("%s: adequacy decision %s covers %s, and the inventory relies on another mechanism", code, a.Reference, a.Scope)
	}
	j := CountryJudgement{Verdict: VerdictMechanismRequired, Severity: escalate(SeverityHigh, cat),
		References: refs("GDPR Art. 44", "GDPR Art. 46", "GDPR Art. 47", "GDPR Art. 49")}
	declared := declaredText(m)
	switch m.Type {
	case MechanismSCCs, MechanismBCRs:
		j.Compliant, j.Severity = true, SeverityLow
		j.References = refs("GDPR Art. 44", m.Type.Article())
		j.Message = fmt.Sprintf("%s; transfer rests on %s — a transfer impact assessment and supplementary measures (Schrems II) are needed", noAdequacy, declared)
	case MechanismDerogation:
		j.References = refs("GDPR Art. 44", m.Type.Article(), EDPBDerogations)
		j.Message, j.Compliant, j.Severity = judgeDerogation(noAdequacy, declared, m, cat)
	case MechanismAdequacy:
		j.References = refs("GDPR Art. 44", "GDPR Art. 45")
		j.Message = fmt.Sprintf("%s: the inventory declares adequacy (ref. %s) but no adequacy decision for %s is in force on %s — violation", code, m.Reference, code, date)
	default:
		j.Message = fmt.Sprintf("%s has no adequacy decision on %s and the inventory declares no Art. 46/47/49 mechanism — violation of GDPR Art. 44", code, date)
	}
	return j
}

// EDPBDerogations is the guidance that reads Art. 49 narrowly.
const EDPBDerogations = "EDPB Guidelines 2/2018 on derogations of Article 49 (adopted 25 May 2018)"

// judgeDerogation: a data store is regular, repeated transfer; Art. 49 derogations are for occasional
// transfers only (EDPB Guidelines 2/2018), so only a transfer the inventory marks occasional can rest on one.
func judgeDerogation(noAdequacy, declared string, m Mechanism, cat DataCategory) (string, bool, Severity) {
	if !m.Occasional {
		return fmt.Sprintf("%s; transfer rests on a derogation, %s — a standing data store is regular, repeated "+
			"transfer, and Art. 49 derogations are read narrowly, for occasional transfers only (EDPB Guidelines "+
			"2/2018): not compliant. Use SCCs or BCRs, or mark the transfer occasional only with the DPO's documented "+
			"assessment", noAdequacy, declared), false, escalate(SeverityHigh, cat)
	}
	return fmt.Sprintf("%s; transfer rests on a derogation, %s, marked occasional in the inventory — that needs the "+
		"DPO's documented assessment that the transfer is occasional and meets the derogation's conditions "+
		"(EDPB Guidelines 2/2018; Art. 49(6) record)", noAdequacy, declared), true, SeverityMedium
}
