package residency

import (
	"fmt"
	"slices"
)

// ProcessingRecord is one row for the records of processing activities, GDPR Art. 30(1)(e): one store and
// one destination country, with the transfer mechanism and the article it rests on.
type ProcessingRecord struct {
	Store    string       `json:"store"`
	Purpose  string       `json:"purpose"`
	Category DataCategory `json:"category"`
	Role     Role         `json:"role"`
	// Country is the destination (ISO alpha-2), "" when unknown; Recipient names an international
	// organisation instead of a country.
	Country      string  `json:"country"`
	Recipient    string  `json:"recipient"`
	ThirdCountry bool    `json:"third_country"`
	Verdict      Verdict `json:"verdict"`
	Compliant    bool    `json:"compliant"`
	Mechanism    string  `json:"mechanism"` // the adequacy decision, or the declared mechanism and its reference
	Article      string  `json:"article"`
}

// Records derives the Art. 30(1)(e) rows from judged stores: per store, one row per destination country
// (the worst verdict for it over the store's addresses).
func Records(stores []StoreResult) []ProcessingRecord {
	var out []ProcessingRecord
	for _, sr := range stores {
		s := sr.Store
		byCountry := map[string]*ProcessingRecord{}
		var order []string
		for _, f := range sr.Findings {
			if f.RuleID != RuleTransfer && f.RuleID != RuleRecipient && f.RuleID != RuleUnresolvable && f.RuleID != RuleNoAddress {
				continue
			}
			key := f.Country
			if f.RuleID == RuleRecipient {
				key = "org:" + s.Recipient
			}
			rec := ProcessingRecord{Store: s.Name, Purpose: s.Purpose, Category: s.Category, Role: s.Role,
				Country: f.Country, Verdict: f.Verdict, Compliant: f.Compliant}
			if f.RuleID == RuleRecipient {
				rec.Country, rec.Recipient = "", s.Recipient
			}
			rec.ThirdCountry = f.Verdict != VerdictInEEA
			rec.Mechanism, rec.Article = mechanismFor(f, s)
			prev, ok := byCountry[key]
			if !ok {
				order = append(order, key)
				byCountry[key] = &rec
				continue
			}
			if rec.Verdict.rank() > prev.Verdict.rank() || (rec.Verdict == prev.Verdict && prev.Compliant && !rec.Compliant) {
				*prev = rec
			}
		}
		slices.Sort(order)
		for _, k := range order {
			out = append(out, *byCountry[k])
		}
	}
	return out
}

func mechanismFor(f Finding, s Store) (mech, article string) {
	declared := ""
	if s.Mechanism.Type != MechanismNone {
		declared = fmt.Sprintf("%s (ref. %s)", s.Mechanism.Type, s.Mechanism.Reference)
	}
	switch f.Verdict {
	case VerdictInEEA:
		return "none needed (EEA)", "GDPR Art. 44 (no transfer)"
	case VerdictAdequate:
		if f.ScopeCaveat != "" && s.Mechanism.Type != MechanismNone && s.Mechanism.Type != MechanismAdequacy {
			// Partial adequacy, and the store relies on its own safeguards instead.
			return declared + "; adequacy decision covers " + f.ScopeCaveat, s.Mechanism.Type.Article()
		}
		mech = "adequacy decision " + f.Decision
		if f.ScopeCaveat != "" {
			mech += " — scope: " + f.ScopeCaveat
		}
		if declared != "" {
			mech += "; declared " + declared
		}
		return mech, "GDPR Art. 45"
	case VerdictMechanismRequired:
		if declared == "" {
			return "NONE DECLARED", "GDPR Art. 44 (violation)"
		}
		return declared, s.Mechanism.Type.Article()
	}
	if declared != "" {
		return "destination unknown; declared " + declared, s.Mechanism.Type.Article()
	}
	return "destination unknown", "GDPR Art. 5(2), 30(1)(e)"
}
