package residency

import (
	"fmt"
	"slices"
	"time"
)

// RulesVersion identifies the rules table below; every audit records it. Bump it whenever a row changes.
const RulesVersion = "residency-rules/2026-12-01.1"

// Legal references cited by findings.
const (
	NorwegianAct       = "Personopplysningsloven § 1 (LOV-2018-06-15-38)"
	DatatilsynetRemote = "Datatilsynet: geolocation alone cannot prove compliance — remote access from a third " +
		"country (support staff, a parent company, a sub-processor) is a transfer even when the server stands in " +
		"the EEA; identify the transfer basis before any transfer"
)

// SvalbardJanMayen is the ISO 3166-1 code GeoIP uses for both Svalbard and Jan Mayen; see SJPolicy.
const SvalbardJanMayen = "SJ"

// gdprInNorway is when Personopplysningsloven (and with it the GDPR) took effect in Norway.
var gdprInNorway = day(2018, 7, 20)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// period is a half-open validity interval [From, Until); a zero Until means open-ended.
type period struct{ From, Until time.Time }

func (p period) covers(t time.Time) bool {
	return !t.Before(p.From) && (p.Until.IsZero() || t.Before(p.Until))
}

// eeaMember is one state (or ISO-coded part of a state) where the GDPR applies through the EU or the EEA
// Agreement.
type eeaMember struct {
	Code, Name string
	period
	Note string
}

// eeaTable lists EEA territory by ISO 3166-1 alpha-2 code. MaxMind's is_in_european_union is never used:
// it is false for Norway, Iceland and Liechtenstein.
var eeaTable = func() []eeaMember {
	always := period{From: day(1994, 1, 1)}
	var t []eeaMember
	for _, c := range []struct{ code, name string }{
		{"AT", "Austria"}, {"BE", "Belgium"}, {"BG", "Bulgaria"}, {"CY", "Cyprus"}, {"CZ", "Czechia"},
		{"DE", "Germany"}, {"DK", "Denmark"}, {"EE", "Estonia"}, {"ES", "Spain"}, {"FI", "Finland"},
		{"FR", "France"}, {"GR", "Greece"}, {"HU", "Hungary"}, {"IE", "Ireland"}, {"IT", "Italy"},
		{"LT", "Lithuania"}, {"LU", "Luxembourg"}, {"LV", "Latvia"}, {"MT", "Malta"}, {"NL", "Netherlands"},
		{"PL", "Poland"}, {"PT", "Portugal"}, {"RO", "Romania"}, {"SE", "Sweden"}, {"SI", "Slovenia"},
		{"SK", "Slovakia"},
		{"IS", "Iceland"}, {"LI", "Liechtenstein"}, {"NO", "Norway"},
	} {
		t = append(t, eeaMember{Code: c.code, Name: c.name, period: always})
	}
	t = append(t,
		eeaMember{Code: "HR", Name: "Croatia", period: period{From: day(2013, 7, 1)},
			Note: "EU member since 1 Jul 2013"},
		// Outermost regions of France: EU territory under their own ISO codes (TFEU Art. 349, 355(1)).
		eeaMember{Code: "RE", Name: "Réunion (France)", period: always, Note: "French outermost region"},
		eeaMember{Code: "GP", Name: "Guadeloupe (France)", period: always, Note: "French outermost region"},
		eeaMember{Code: "MQ", Name: "Martinique (France)", period: always, Note: "French outermost region"},
		eeaMember{Code: "GF", Name: "French Guiana (France)", period: always, Note: "French outermost region"},
		eeaMember{Code: "YT", Name: "Mayotte (France)", period: period{From: day(2014, 1, 1)},
			Note: "French outermost region since 1 Jan 2014"},
		eeaMember{Code: "MF", Name: "Saint Martin (France)", period: always, Note: "French outermost region"},
		// Åland is part of Finland and of the EU (special tax status only).
		eeaMember{Code: "AX", Name: "Åland (Finland)", period: always, Note: "part of Finland"},
		// The UK was treated as a member state under the withdrawal agreement until the end of 2020.
		eeaMember{Code: "GB", Name: "United Kingdom (transition period)", period: period{Until: day(2021, 1, 1)},
			Note: "EU member until 31 Jan 2020, transition period to 31 Dec 2020"},
	)
	return t
}()

// EEAStatus says whether an adequacy decision has been incorporated into the EEA Agreement, which is what
// formally binds Norway, Iceland and Liechtenstein.
type EEAStatus string

const (
	EEAIncorporated EEAStatus = "incorporated"
	EEAPending      EEAStatus = "pending"
	// EEANotVerified: the Commission applies the decision to EEA flows, but this table has not checked the
	// EEA Joint Committee decision.
	EEANotVerified EEAStatus = "not_verified"
)

// AdequacyDecision is one Art. 45 decision as it stood for a period.
type AdequacyDecision struct {
	ID        string   // stable key, e.g. "US-DPF"
	Recipient string   // country, territory or organisation
	Countries []string // ISO alpha-2 codes covered; empty for an international organisation
	// InternationalOrganisation marks a recipient that is not a country (GeoIP can never place an address
	// there; the inventory names it instead).
	InternationalOrganisation bool
	Reference                 string    // the decision
	Adopted                   time.Time // adoption date
	Effective                 period    // when it can be relied on (expiry = Effective.Until)
	// Scope is empty for a full decision; otherwise the only recipients covered (a partial decision).
	Scope   string
	EEA     EEAStatus
	EEADate time.Time // incorporation date when known
	EEANote string
	// EEAChecked is when the EEA status above was last checked against the EEA Joint Committee decisions.
	EEAChecked time.Time
	Note       string
	Unverified string // what of this row still needs checking in EUR-Lex, if anything
}

// eeaChecked is the day this table's EEA status column was last checked; see docs/residency-legal.md for
// what was found.
var eeaChecked = day(2026, 12, 1)

func init() {
	for i := range adequacyTable {
		if adequacyTable[i].EEAChecked.IsZero() {
			adequacyTable[i].EEAChecked = eeaChecked
		}
	}
}

// Partial reports whether the decision covers only some recipients in its countries.
func (d AdequacyDecision) Partial() bool { return d.Scope != "" }

var adequacyTable = []AdequacyDecision{
	{ID: "CH", Recipient: "Switzerland", Countries: []string{"CH"},
		Reference: "Commission Decision 2000/518/EC", Adopted: day(2000, 7, 26),
		Effective: period{From: day(2000, 7, 26)}, EEA: EEANotVerified,
		Note: "pre-GDPR decision, kept in force by GDPR Art. 45(9); reaffirmed in the review of 15 Jan 2024"},
	{ID: "CA", Recipient: "Canada", Countries: []string{"CA"},
		Reference: "Commission Decision 2002/2/EC", Adopted: day(2001, 12, 20),
		Effective: period{From: day(2001, 12, 20)}, EEA: EEANotVerified,
		Scope: "commercial organisations subject to PIPEDA only (not public bodies, not provinces' own laws)",
		Note:  "pre-GDPR decision, kept in force by GDPR Art. 45(9); reaffirmed 15 Jan 2024"},
	{ID: "AR", Recipient: "Argentina", Countries: []string{"AR"},
		Reference: "Commission Decision 2003/490/EC", Adopted: day(2003, 6, 30),
		Effective: period{From: day(2003, 6, 30)}, EEA: EEANotVerified, Note: "reaffirmed 15 Jan 2024"},
	{ID: "GG", Recipient: "Guernsey", Countries: []string{"GG"},
		Reference: "Commission Decision 2003/821/EC", Adopted: day(2003, 11, 21),
		Effective: period{From: day(2003, 11, 21)}, EEA: EEANotVerified, Note: "reaffirmed 15 Jan 2024",
		Unverified: "adoption date from a compilation"},
	{ID: "IM", Recipient: "Isle of Man", Countries: []string{"IM"},
		Reference: "Commission Decision 2004/411/EC", Adopted: day(2004, 4, 28),
		Effective: period{From: day(2004, 4, 28)}, EEA: EEANotVerified, Note: "reaffirmed 15 Jan 2024",
		Unverified: "adoption date from a compilation"},
	{ID: "JE", Recipient: "Jersey", Countries: []string{"JE"},
		Reference: "Commission Decision 2008/393/EC", Adopted: day(2008, 5, 8),
		Effective: period{From: day(2008, 5, 8)}, EEA: EEANotVerified, Note: "reaffirmed 15 Jan 2024",
		Unverified: "adoption date from a compilation"},
	{ID: "FO", Recipient: "Faroe Islands", Countries: []string{"FO"},
		Reference: "Commission Decision 2010/146/EU", Adopted: day(2010, 3, 5),
		Effective: period{From: day(2010, 3, 5)}, EEA: EEANotVerified, Note: "reaffirmed 15 Jan 2024",
		Unverified: "adoption date from a compilation"},
	{ID: "AD", Recipient: "Andorra", Countries: []string{"AD"},
		Reference: "Commission Decision 2010/625/EU", Adopted: day(2010, 10, 19),
		Effective: period{From: day(2010, 10, 19)}, EEA: EEANotVerified, Note: "reaffirmed 15 Jan 2024",
		Unverified: "adoption date from a compilation"},
	{ID: "IL", Recipient: "Israel", Countries: []string{"IL"},
		Reference: "Commission Decision 2011/61/EU", Adopted: day(2011, 1, 31),
		Effective: period{From: day(2011, 1, 31)}, EEA: EEANotVerified,
		// The decision is territorial: the State of Israel as defined under international law, which GeoIP's
		// "IL" does not separate from the territories occupied since 1967.
		Scope: "the State of Israel under international law only, not the Golan Heights, the Gaza Strip or " +
			"the West Bank including East Jerusalem (Decision 2011/61/EU, read with the EU's position on the territories under international law)",
		Note:       "reaffirmed 15 Jan 2024; covers automated international transfers",
		Unverified: "adoption date from a compilation"},
	{ID: "UY", Recipient: "Uruguay", Countries: []string{"UY"},
		Reference: "Commission Implementing Decision 2012/484/EU", Adopted: day(2012, 8, 21),
		Effective: period{From: day(2012, 8, 21)}, EEA: EEANotVerified, Note: "reaffirmed 15 Jan 2024"},
	{ID: "NZ", Recipient: "New Zealand", Countries: []string{"NZ"},
		Reference: "Commission Implementing Decision 2013/65/EU", Adopted: day(2012, 12, 19),
		Effective: period{From: day(2012, 12, 19)}, EEA: EEANotVerified, Note: "reaffirmed 15 Jan 2024",
		Unverified: "adoption date from a compilation"},
	{ID: "JP", Recipient: "Japan", Countries: []string{"JP"},
		Reference: "Commission Implementing Decision (EU) 2019/419", Adopted: day(2019, 1, 23),
		Effective: period{From: day(2019, 1, 23)}, EEA: EEANotVerified,
		Scope: "personal information handling business operators subject to the APPI as complemented by the " +
			"Supplementary Rules (Decision (EU) 2019/419, Art. 1(1))",
		Note: "public bodies and the sectors of Art. 1(2) are not covered"},
	{ID: "KR", Recipient: "Republic of Korea", Countries: []string{"KR"},
		Reference: "Commission Implementing Decision (EU) 2022/254", Adopted: day(2021, 12, 17),
		Effective: period{From: day(2021, 12, 17)}, EEA: EEANotVerified,
		Scope: "recipients subject to the Personal Information Protection Act (PIPA), except credit information " +
			"processed by organisations supervised by the Financial Services Commission under the Credit " +
			"Information Act (Decision (EU) 2022/254, Art. 1)"},
	{ID: "UK-2021", Recipient: "United Kingdom", Countries: []string{"GB"},
		Reference: "Commission Implementing Decision (EU) 2021/1772 (GDPR), as extended",
		Adopted:   day(2021, 6, 28),
		// Original sunset 27 Jun 2025, extended by six months; the day after the last day is exclusive.
		Effective: period{From: day(2021, 6, 28), Until: day(2025, 12, 28)}, EEA: EEANotVerified,
		Note:       "companion decision under the Law Enforcement Directive; excludes UK immigration-control processing",
		Unverified: "reference of the June 2025 extension decision"},
	{ID: "UK-2025", Recipient: "United Kingdom", Countries: []string{"GB"},
		Reference: "Commission implementing decision renewing the UK adequacy decisions (GDPR and LED), 19 Dec 2025",
		Adopted:   day(2025, 12, 19),
		Effective: period{From: day(2025, 12, 28), Until: day(2031, 12, 28)}, EEA: EEANotVerified,
		Note:       "renewal takes over when the extended 2021 decision lapses on 27 Dec 2025; valid until 27 Dec 2031",
		Unverified: "Official Journal number of the renewal decision"},
	{ID: "US-DPF", Recipient: "United States", Countries: []string{"US"},
		Reference: "Commission Implementing Decision (EU) 2023/1795 (EU-US Data Privacy Framework)",
		Adopted:   day(2023, 7, 10), Effective: period{From: day(2023, 7, 10)}, EEA: EEANotVerified,
		Scope: "only organisations certified under the EU-US Data Privacy Framework (check the DPF list)",
		Note:  "upheld by the General Court on 3 Sep 2025 (T-553/23 Latombe)"},
	{ID: "EPO", Recipient: "European Patent Organisation", InternationalOrganisation: true,
		Reference: "Commission implementing decision on the European Patent Organisation, 15 Jul 2025",
		Adopted:   day(2025, 7, 15), Effective: period{From: day(2025, 7, 15)}, EEA: EEANotVerified,
		Note:       "the first adequacy decision for an international organisation, not a country",
		Unverified: "Official Journal number"},
	{ID: "BR", Recipient: "Brazil", Countries: []string{"BR"},
		Reference: "Commission Implementing Decision (EU) 2026/179", Adopted: day(2026, 1, 26),
		Effective: period{From: day(2026, 1, 26)}, EEA: EEAPending,
		EEANote: "EEA Joint Committee draft decision sent 6 May 2026; incorporation into the EEA Agreement pending"},
}

// Rules is the rules table as in force on one date.
type Rules struct {
	Version string
	Date    time.Time
	eea     map[string]eeaMember
	adequ   map[string]AdequacyDecision // by ISO alpha-2 code
	orgs    map[string]AdequacyDecision // international organisations, by ID
	// Policy is the controller's choices where the law leaves a call (defaults filled in by RulesAt).
	Policy Policy
}

// WithPolicy returns a copy of the rules judging under policy p (unset fields take the defaults).
func (r *Rules) WithPolicy(p Policy) *Rules {
	c := *r
	c.Policy = p.WithDefaults()
	return &c
}

// RulesAt returns the rules in force on date (its calendar day in UTC). Dates before the GDPR took effect in
// Norway (20 Jul 2018) are an error: the 2000 Act is not modelled.
func RulesAt(date time.Time) (*Rules, error) {
	d := date.UTC().Truncate(24 * time.Hour)
	if d.Before(gdprInNorway) {
		return nil, fmt.Errorf("rules for %s: the GDPR took effect in Norway on 20 Jul 2018 (%s); "+
			"the earlier Personal Data Act (LOV-2000-04-14-31) is not modelled", d.Format(time.DateOnly), NorwegianAct)
	}
	r := &Rules{Version: RulesVersion, Date: d, eea: map[string]eeaMember{},
		adequ: map[string]AdequacyDecision{}, orgs: map[string]AdequacyDecision{}, Policy: Policy{}.WithDefaults()}
	for _, m := range eeaTable {
		if m.covers(d) {
			r.eea[m.Code] = m
		}
	}
	for _, a := range adequacyTable {
		if !a.Effective.covers(d) {
			continue
		}
		if a.InternationalOrganisation {
			r.orgs[a.ID] = a
		}
		for _, c := range a.Countries {
			r.adequ[c] = a
		}
	}
	return r, nil
}

// InEEA reports whether the ISO alpha-2 code is EEA territory on the rules' date.
func (r *Rules) InEEA(code string) bool { _, ok := r.eea[code]; return ok }

// Adequacy returns the adequacy decision in force for a country code, if any.
func (r *Rules) Adequacy(code string) (AdequacyDecision, bool) { a, ok := r.adequ[code]; return a, ok }

// Organisation returns the adequacy decision in force for an international organisation by ID ("EPO").
func (r *Rules) Organisation(id string) (AdequacyDecision, bool) { a, ok := r.orgs[id]; return a, ok }

// Qualifies reports whether a country is EEA territory or fully adequate (no partial scope) on the rules'
// date: the test for "the whole physics disc lies in safe territory".
func (r *Rules) Qualifies(code string) bool {
	if r.InEEA(code) || code == SvalbardJanMayen && r.Policy.SvalbardJanMayen == SJNorway {
		return true
	}
	a, ok := r.adequ[code]
	return ok && !a.Partial()
}

// AdequacyDecisions returns a copy of the whole table, for reports.
func AdequacyDecisions() []AdequacyDecision { return slices.Clone(adequacyTable) }

// EEACodes returns the EEA codes in force on the rules' date, sorted.
func (r *Rules) EEACodes() []string {
	out := make([]string, 0, len(r.eea))
	for c := range r.eea {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// parseDay parses YYYY-MM-DD as a UTC day.
func parseDay(s string) (time.Time, error) { return time.Parse(time.DateOnly, s) }
