package job

import (
	"encoding/json"
	"fmt"

	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/reports"
	"github.com/varde/varde/storage"
)

// What the web console (package console) shows of a stored audit, computed by the same code as the PDF
// reports so that a page and a report never disagree.

// ReportVerdict is the report's verdict word for a stored finding (violation, compliant, inconclusive,
// warning), as the compliance PDF shows it.
func ReportVerdict(f storage.Finding) (reports.Verdict, error) { return reportVerdict(f) }

// StoreView is one data store's stored judgement: where it was located and its headline status.
type StoreView struct {
	Store, Location string
	Addresses       []string
	Countries       []string // ISO alpha-2 codes the addresses were located in
	Verdict         string   // the residency verdict word
	Status          residency.Status
	LegalBasis      string
	Physics         []string
}

// StoreViewOf reads a store-level finding (rule residency.RuleStore) back into a StoreView.
func StoreViewOf(f storage.Finding) (StoreView, error) {
	if f.RuleID != ruleStoreSummary {
		return StoreView{}, fmt.Errorf("finding %d (%s): rule %s carries no store summary", f.ID, f.Subject, f.RuleID)
	}
	var ev struct {
		Summary *storeSummary `json:"summary"`
	}
	if err := json.Unmarshal(f.Evidence, &ev); err != nil {
		return StoreView{}, fmt.Errorf("finding %d (%s): evidence: %w", f.ID, f.Subject, err)
	}
	if ev.Summary == nil {
		return StoreView{}, fmt.Errorf("finding %d (%s): a %s finding without the store summary in its evidence", f.ID, f.Subject, f.RuleID)
	}
	st, err := storeStatus(f)
	if err != nil {
		return StoreView{}, err
	}
	s := ev.Summary
	return StoreView{Store: s.Store, Location: s.Location, Addresses: s.Addresses, Countries: s.Countries,
		Verdict: s.Verdict, Status: st, LegalBasis: s.LegalBasis, Physics: s.Physics}, nil
}

// SalesModels are the sales latency comparison's figures for each configured vantage that measured
// anything, computed exactly as the sales PDF computes them for its vantage.
func SalesModels(a storage.Audit, ms []storage.Measurement, steps []storage.Step) ([]reports.SalesModel, error) {
	var cfg Config
	if err := json.Unmarshal(a.Config, &cfg); err != nil {
		return nil, fmt.Errorf("audit %d: stored config: %w", a.ID, err)
	}
	var out []reports.SalesModel
	for _, v := range cfg.Vantages {
		var mine []storage.Measurement
		for _, m := range ms {
			if m.Vantage == v.Name {
				mine = append(mine, m)
			}
		}
		if len(mine) == 0 {
			continue
		}
		c := cfg
		c.Vantage = v.Name
		sa := &storedAudit{audit: a, cfg: c, ms: mine, steps: steps}
		out = append(out, sa.salesModel())
	}
	return out, nil
}
