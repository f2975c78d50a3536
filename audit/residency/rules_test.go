package residency

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func mustRules(t *testing.T, date string) *Rules {
	t.Helper()
	d, err := parseDay(date)
	if err != nil {
		t.Fatal(err)
	}
	r, err := RulesAt(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRulesAcrossDates(t *testing.T) {
	t.Parallel()
	none := Mechanism{}
	sccs := Mechanism{Type: MechanismSCCs, Reference: "DPA-2024-17, Module 2"}
	dpf := Mechanism{Type: MechanismAdequacy, Reference: "DPF list: Example Inc.", Coverage: "Example Inc. is DPF-certified for HR and non-HR data",
		CheckedOn: day(2023, 7, 1)}
	dpfUndated := dpf
	dpfUndated.CheckedOn = time.Time{}
	covered := func(coverage string) Mechanism {
		return Mechanism{Type: MechanismAdequacy, Reference: "assessment 2025-04", Coverage: coverage}
	}
	uncovered := Mechanism{Type: MechanismAdequacy, Reference: "assessment 2025-04"}
	derog := Mechanism{Type: MechanismDerogation, Reference: "Art. 49(1)(b) contract"}
	occasional := derog
	occasional.Occasional = true
	for _, tc := range []struct {
		date, country string
		mech          Mechanism
		cat           DataCategory
		verdict       Verdict
		compliant     bool
		severity      Severity
		decision      string // substring of the decision relied on
		policy        Policy
	}{
		// A DPF declaration needs coverage, the listing and the date it was checked; it goes stale after
		// dpf_max_age_days (default 90).
		{"2023-07-10", "US", dpfUndated, Ordinary, VerdictNeedsReview, false, SeverityHigh, "2023/1795", Policy{}},
		{"2023-09-29", "US", dpf, Ordinary, VerdictAdequate, true, SeverityLow, "2023/1795", Policy{}},
		{"2023-09-30", "US", dpf, Ordinary, VerdictNeedsReview, false, SeverityHigh, "2023/1795", Policy{}},
		{"2023-09-30", "US", dpf, Special, VerdictNeedsReview, false, SeverityCritical, "2023/1795", Policy{}},
		{"2023-12-27", "US", dpf, Ordinary, VerdictAdequate, true, SeverityLow, "2023/1795", Policy{DPFMaxAgeDays: 180}},
		// Japan, Korea and Israel are scoped: without a declaration a mechanism is required, a declared
		// adequacy must state the coverage.
		{"2025-09-30", "JP", none, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "2019/419", Policy{}},
		{"2025-09-30", "JP", covered("APPI business operator bound by the Supplementary Rules"), Ordinary, VerdictAdequate, true, SeverityLow, "2019/419", Policy{}},
		{"2025-09-30", "KR", uncovered, Ordinary, VerdictNeedsReview, false, SeverityHigh, "2022/254", Policy{}},
		{"2025-09-30", "KR", covered("PIPA-covered retailer, no credit information"), Ordinary, VerdictAdequate, true, SeverityLow, "2022/254", Policy{}},
		{"2025-09-30", "IL", none, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "2011/61", Policy{}},
		{"2025-09-30", "CA", covered("commercial organisation under PIPEDA"), Ordinary, VerdictAdequate, true, SeverityLow, "2002/2", Policy{}},
		// Art. 49 derogations fit occasional transfers only; a standing store is not.
		{"2025-09-30", "IN", derog, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "", Policy{}},
		{"2025-09-30", "IN", occasional, Ordinary, VerdictMechanismRequired, true, SeverityMedium, "", Policy{}},
		// Svalbard and Jan Mayen: a policy, needs review by default.
		{"2025-09-30", "SJ", none, Ordinary, VerdictNeedsReview, false, SeverityMedium, "", Policy{}},
		{"2025-09-30", "SJ", none, Ordinary, VerdictInEEA, true, SeverityLow, "", Policy{SvalbardJanMayen: SJNorway}},
		{"2025-09-30", "SJ", none, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "", Policy{SvalbardJanMayen: SJThirdCountry}},
		// A decision pending in the EEA: relied on by default, not under eea_pending=needs_review.
		{"2026-05-07", "BR", none, Ordinary, VerdictNeedsReview, false, SeverityMedium, "2026/179", Policy{EEAPending: EEAPendingNeedsReview}},
		// The US before and after the Data Privacy Framework decision of 10 Jul 2023.
		{"2023-07-09", "US", none, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "", Policy{}},
		{"2023-07-09", "US", sccs, Ordinary, VerdictMechanismRequired, true, SeverityLow, "", Policy{}},
		{"2023-07-09", "US", dpf, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "", Policy{}},
		{"2023-07-10", "US", none, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "2023/1795", Policy{}},
		{"2023-07-10", "US", dpf, Ordinary, VerdictAdequate, true, SeverityLow, "2023/1795", Policy{}},
		{"2023-07-10", "US", uncovered, Ordinary, VerdictNeedsReview, false, SeverityHigh, "2023/1795", Policy{}},
		{"2025-09-30", "US", none, Special, VerdictMechanismRequired, false, SeverityCritical, "2023/1795", Policy{}},
		// The UK: in the EU's transition period, the 2021 decision as extended, and its renewal.
		{"2020-12-31", "GB", none, Ordinary, VerdictInEEA, true, SeverityInfo, "", Policy{}},
		{"2021-06-27", "GB", none, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "", Policy{}},
		{"2021-06-28", "GB", none, Ordinary, VerdictAdequate, true, SeverityInfo, "2021/1772", Policy{}},
		{"2025-12-27", "GB", none, Ordinary, VerdictAdequate, true, SeverityInfo, "2021/1772", Policy{}},
		{"2025-12-28", "GB", none, Ordinary, VerdictAdequate, true, SeverityInfo, "renewing", Policy{}},
		{"2026-03-31", "GB", none, Ordinary, VerdictAdequate, true, SeverityInfo, "renewing", Policy{}},
		{"2031-12-28", "GB", none, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "", Policy{}},
		// Brazil before and after 26 Jan 2026; EEA incorporation pending makes it low, not info.
		{"2026-01-25", "BR", none, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "", Policy{}},
		{"2026-01-26", "BR", none, Ordinary, VerdictAdequate, true, SeverityLow, "2026/179", Policy{}},
		// Norway is EEA whatever MaxMind's is_in_european_union says; so are France's outermost regions.
		{"2025-09-30", "NO", none, Special, VerdictInEEA, true, SeverityInfo, "", Policy{}},
		{"2025-09-30", "IS", none, Ordinary, VerdictInEEA, true, SeverityInfo, "", Policy{}},
		{"2025-09-30", "LI", none, Ordinary, VerdictInEEA, true, SeverityInfo, "", Policy{}},
		{"2025-09-30", "RE", none, Ordinary, VerdictInEEA, true, SeverityInfo, "", Policy{}},
		{"2025-09-30", "GF", none, Ordinary, VerdictInEEA, true, SeverityInfo, "", Policy{}},
		// Greenland has no adequacy decision; the Faroe Islands have their own.
		{"2025-09-30", "GL", none, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "", Policy{}},
		{"2025-09-30", "FO", none, Ordinary, VerdictAdequate, true, SeverityInfo, "2010/146", Policy{}},
		// Canada: partial, PIPEDA only; without a declaration the decision cannot be relied on. Special categories escalate a violation to critical.
		{"2025-09-30", "CA", none, Ordinary, VerdictMechanismRequired, false, SeverityHigh, "2002/2", Policy{}},
		{"2025-09-30", "CN", none, Special, VerdictMechanismRequired, false, SeverityCritical, "", Policy{}},
		{"2025-09-30", "CN", Mechanism{Type: MechanismBCRs, Reference: "BCR approval 2021"}, Special, VerdictMechanismRequired, true, SeverityLow, "", Policy{}},
		{"2025-09-30", "", none, Ordinary, VerdictUnknown, false, SeverityHigh, "", Policy{}},
	} {
		r := mustRules(t, tc.date).WithPolicy(tc.policy)
		j := JudgeCountry(r, tc.country, tc.mech, tc.cat)
		name := tc.date + " " + tc.country + " " + string(tc.mech.Type) + " " + string(tc.cat)
		if j.Verdict != tc.verdict || j.Compliant != tc.compliant || j.Severity != tc.severity {
			t.Errorf("%s: got %s compliant=%v %s; want %s compliant=%v %s (%s)", name, j.Verdict, j.Compliant,
				j.Severity, tc.verdict, tc.compliant, tc.severity, j.Message)
		}
		got := ""
		if j.Decision != nil {
			got = j.Decision.Reference
		}
		if tc.decision == "" && got != "" || !strings.Contains(got, tc.decision) {
			t.Errorf("%s: decision %q, want one containing %q", name, got, tc.decision)
		}
		if !slices.Contains(j.References, NorwegianAct) {
			t.Errorf("%s: references %v lack %s", name, j.References, NorwegianAct)
		}
	}
}

func TestRulesBeforeGDPRInNorway(t *testing.T) {
	t.Parallel()
	d, _ := parseDay("2018-07-19")
	if _, err := RulesAt(d); err == nil || !strings.Contains(err.Error(), "20 Jul 2018") {
		t.Fatalf("RulesAt(2018-07-19) = %v, want an error naming 20 Jul 2018", err)
	}
}

func TestEuropeanPatentOrganisation(t *testing.T) {
	t.Parallel()
	if _, ok := mustRules(t, "2025-07-14").Organisation("EPO"); ok {
		t.Error("EPO adequate on 14 Jul 2025")
	}
	a, ok := mustRules(t, "2025-07-15").Organisation("EPO")
	if !ok || !a.InternationalOrganisation || len(a.Countries) != 0 {
		t.Errorf("EPO on 15 Jul 2025: %+v, %v", a, ok)
	}
}

func TestEEAIsThirtyStates(t *testing.T) {
	t.Parallel()
	r := mustRules(t, "2025-09-30")
	states := 0
	for _, c := range r.EEACodes() {
		switch c {
		case "RE", "GP", "MQ", "GF", "YT", "MF", "AX":
		default:
			states++
		}
	}
	if states != 30 {
		t.Errorf("EEA has %d states on 2025-09-30, want 30: %v", states, r.EEACodes())
	}
	if r.InEEA("GB") || r.InEEA("CH") || r.InEEA("GL") {
		t.Error("GB, CH or GL counted as EEA")
	}
}

func TestRecipientInternationalOrganisation(t *testing.T) {
	t.Parallel()
	g, _ := Countries()
	s := Store{Name: "patents", Recipient: "EPO", Category: Ordinary}
	before := JudgeStore(mustRules(t, "2025-07-14"), g, s, nil)
	after := JudgeStore(mustRules(t, "2025-07-15"), g, s, nil)
	if before.Verdict != VerdictMechanismRequired || before.Compliant {
		t.Errorf("EPO 2025-07-14: %s compliant=%v", before.Verdict, before.Compliant)
	}
	if after.Verdict != VerdictAdequate || !after.Compliant {
		t.Errorf("EPO 2025-07-15: %s compliant=%v", after.Verdict, after.Compliant)
	}
	recs := Records([]StoreResult{after})
	if len(recs) != 1 || recs[0].Recipient != "EPO" || recs[0].Article != "GDPR Art. 45" {
		t.Errorf("records %+v", recs)
	}
}

// Every adequacy row carries its EEA status and the date it was checked; scoped decisions are not "safe
// territory" for physics.
func TestAdequacyRowsEEAAndScope(t *testing.T) {
	t.Parallel()
	for _, a := range AdequacyDecisions() {
		if a.EEA == "" || a.EEAChecked.IsZero() {
			t.Errorf("%s: EEA status %q checked %v", a.ID, a.EEA, a.EEAChecked)
		}
	}
	r := mustRules(t, "2025-09-30")
	for _, c := range []string{"JP", "KR", "IL", "CA", "US"} {
		if r.Qualifies(c) {
			t.Errorf("%s qualifies as safe territory, but its decision is scoped", c)
		}
	}
	if r.Qualifies("SJ") || !r.WithPolicy(Policy{SvalbardJanMayen: SJNorway}).Qualifies("SJ") {
		t.Error("SJ qualifies without policy norway, or not with it")
	}
}
