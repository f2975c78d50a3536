package job

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/probes"
	"github.com/varde/varde/reports"
	"github.com/varde/varde/storage"
)

// storeSummary rides in the evidence of each store-level finding, so the report's residency table is made
// from stored evidence alone.
type storeSummary struct {
	Store      string   `json:"store"`
	Location   string   `json:"location"`
	Addresses  []string `json:"addresses"`
	Countries  []string `json:"countries"`
	Verdict    string   `json:"verdict"`
	Status     string   `json:"status"` // residency.Status; empty in audits stored before it existed
	Compliant  bool     `json:"compliant"`
	LegalBasis string   `json:"legal_basis"`
	Physics    []string `json:"physics"`
	GeoIPType  string   `json:"geoip_type"`
	GeoIPBuild string   `json:"geoip_build"`
	GeoIPSHA   string   `json:"geoip_sha256"`
	GeoIPBasis string   `json:"geoip_basis"`
	// GeoIPAgeDays is the database's age at the lookups, -1 without a build date.
	GeoIPAgeDays int `json:"geoip_age_days"`
}

// ruleStoreSummary is the rule whose findings carry a storeSummary.
const ruleStoreSummary = residency.RuleStore

// RTTTable gives the residency physics check the minimum RTT measured to each address from a vantage with
// known coordinates, over every probe kind.
func RTTTable(rs []probes.Result, v residency.Vantage) residency.RTTTable {
	t := residency.RTTTable{}
	for _, r := range rs {
		if !r.Address.IsValid() || r.Stats.Received == 0 {
			continue
		}
		t.Add(residency.RTTObservation{Vantage: v, Addr: r.Address, MinRTT: r.Stats.Min, Received: r.Stats.Received, MeasuredAt: r.Started})
	}
	return t
}

// rttTable is the physics check's input: the minimum RTTs this audit measured from its own vantage, and
// those in the config's RTT files from the other vantages it names.
func (r *runner) rttTable(measured []probes.Result, local residency.Vantage) (residency.RTTTable, error) {
	vs := map[string]residency.Vantage{}
	for _, v := range r.cfg.Vantages {
		vs[v.Name] = residency.Vantage{Name: v.Name, Lat: v.Latitude, Lon: v.Longitude}
	}
	// Remote agents' results carry their own vantage and go with its coordinates (remote.go).
	t := measuredRTT(measured, local, vs)
	monitoredRTT(t, r.monitored, vs)
	if len(r.cfg.RTTFiles) == 0 {
		return t, nil
	}
	for _, p := range r.cfg.paths(r.cfg.RTTFiles) {
		ft, err := LoadProbeRTT(p, vs)
		if err != nil {
			return nil, err
		}
		for _, obs := range ft {
			for _, o := range obs {
				t.Add(o)
			}
		}
	}
	return t, nil
}

// ResidencyRecords turns a residency result into storage observations and findings. An observation or
// finding that cannot be encoded is an error: its evidence would otherwise enter the chain as null.
func ResidencyRecords(res *residency.Result, now time.Time, monitored ...MonitoringEntry) ([]storage.Observation, []storage.Finding, error) {
	var obs []storage.Observation
	for _, o := range res.Observations() {
		details, err := json.Marshal(o)
		if err != nil {
			return nil, nil, fmt.Errorf("observation of %s (%s): %w", o.Store, o.Host, err)
		}
		so := storage.Observation{Subject: o.Store, Host: o.Host, Source: o.Kind, Details: details, ObservedAt: now}
		if o.Addr.IsValid() {
			so.Address = o.Addr.String()
		}
		switch {
		case o.GeoIP != nil:
			p := o.GeoIP.Source
			so.DatabaseType, so.DatabasePath, so.BuildEpoch, so.FileSHA256 = p.DatabaseType, p.Path, p.BuildEpoch, p.SHA256
			so.LocatedCountry, so.RegisteredCountry = o.GeoIP.Country, o.GeoIP.RegisteredCountry
			so.RepresentedCountry, so.Anycast = o.GeoIP.RepresentedCountry, o.GeoIP.Anycast
		case o.Cloud != nil:
			src := o.Cloud.Source
			so.DatabaseType, so.DatabasePath, so.FileSHA256 = src.Provider+" ranges "+src.Version, src.Path, src.SHA256
			so.LocatedCountry = o.Cloud.Country
		case o.Resolution != nil:
			so.DatabaseType = o.Resolution.Resolver
			addrs := make([]string, len(o.Resolution.Addrs))
			for i, a := range o.Resolution.Addrs {
				addrs[i] = a.String()
			}
			so.Address = strings.Join(addrs, " ")
		}
		obs = append(obs, so)
	}

	records := res.Records
	var findings []storage.Finding
	// The databases' own findings (age, basis) come first, under no store.
	stores := append([]residency.StoreResult{{Findings: res.SourceFindings}}, res.Stores...)
	for _, sr := range stores {
		for _, f := range sr.Findings {
			// compliant has its own column; "finding" still carries the whole judgement.
			ev := map[string]any{"finding": f, "evidence": f.Evidence}
			if f.RuleID == residency.RuleStore {
				ev["summary"] = summarise(sr, records, res, monitored)
			}
			b, err := json.Marshal(ev)
			if err != nil {
				return nil, nil, fmt.Errorf("finding %s on %s: %w", f.RuleID, f.Subject, err)
			}
			findings = append(findings, storage.Finding{
				Subject: f.Subject, RuleID: f.RuleID, LegalReference: strings.Join(f.References, "; "),
				Severity: string(f.Severity), Verdict: string(f.Verdict), Compliant: new(f.Compliant),
				Summary: f.Message, Evidence: b, CreatedAt: now,
			})
		}
	}
	return obs, findings, nil
}

func summarise(sr residency.StoreResult, records []residency.ProcessingRecord, res *residency.Result, monitored []MonitoringEntry) storeSummary {
	s := storeSummary{Store: sr.Store.Name, Location: sr.Store.Location, Countries: sr.Countries,
		Verdict: string(sr.Verdict), Status: string(sr.Status), Compliant: sr.Compliant}
	var articles []string
	for _, r := range records {
		if r.Store == sr.Store.Name && !slices.Contains(articles, r.Article) {
			articles = append(articles, r.Article)
		}
	}
	s.LegalBasis = strings.Join(articles, "; ")
	for _, a := range sr.Addresses {
		s.Addresses = append(s.Addresses, a.Addr.String())
		for _, p := range a.Physics {
			line := fmt.Sprintf("GeoIP %s for %s: %s", p.Claimed, a.Addr, p.Summary())
			if p.Vantage != "" {
				line += fmt.Sprintf(" (min RTT %.2f ms, at the speed of light%s)", float64(p.MinRTT)/1e6, periodMinimum(monitored, p.Vantage, a.Addr.String(), p.MinRTT))
			}
			s.Physics = append(s.Physics, line)
		}
	}
	if len(res.Sources) > 0 {
		p := res.Sources[0]
		s.GeoIPType, s.GeoIPSHA = p.DatabaseType, p.SHA256
		s.GeoIPBasis, s.GeoIPAgeDays = string(residency.Basis(p)), residency.AgeDays(p, res.LookedUp)
		if !p.BuildEpoch.IsZero() {
			s.GeoIPBuild = p.BuildEpoch.UTC().Format(time.RFC3339)
		}
	}
	return s
}

// storeStatus is the headline status of a stored store-level finding. Audits stored before the status
// existed derive it from compliant alone, the only word they have: compliant, or not shown compliant.
func storeStatus(f storage.Finding) (residency.Status, error) {
	var ev struct {
		Summary *storeSummary `json:"summary"`
	}
	if err := json.Unmarshal(f.Evidence, &ev); err != nil {
		return "", fmt.Errorf("finding %d (%s): evidence: %w", f.ID, f.Subject, err)
	}
	if ev.Summary == nil {
		return "", fmt.Errorf("finding %d (%s): a %s finding without the store summary in its evidence", f.ID, f.Subject, f.RuleID)
	}
	switch st := residency.Status(ev.Summary.Status); {
	case slices.Contains(residency.Statuses(), st):
		return st, nil
	case st != "":
		return "", fmt.Errorf("finding %d (%s): store status %q is not one the rules know", f.ID, f.Subject, st)
	case ev.Summary.Compliant:
		return residency.StatusCompliant, nil
	}
	return residency.StatusNotShownCompliant, nil
}

// residencyRow rebuilds a report row from a stored store-level finding.
func residencyRow(f storage.Finding) (reports.ResidencyRow, error) {
	var ev struct {
		Summary *storeSummary `json:"summary"`
	}
	if err := json.Unmarshal(f.Evidence, &ev); err != nil {
		return reports.ResidencyRow{}, fmt.Errorf("finding %d (%s): evidence: %w", f.ID, f.Subject, err)
	}
	if ev.Summary == nil {
		return reports.ResidencyRow{}, fmt.Errorf("finding %d (%s): a %s finding without the store summary in its evidence", f.ID, f.Subject, f.RuleID)
	}
	s := ev.Summary
	status, err := storeStatus(f)
	if err != nil {
		return reports.ResidencyRow{}, err
	}
	verdict := s.Verdict + "\n" + strings.ReplaceAll(string(status), "_", " ")
	row := reports.ResidencyRow{Store: s.Store + " — " + s.Location, Addresses: s.Addresses,
		Country: strings.Join(s.Countries, ", "), Verdict: verdict, LegalBasis: s.LegalBasis,
		Physics: strings.Join(s.Physics, "; "),
		GeoIP: reports.DatabaseProvenance{Type: s.GeoIPType, SHA256: s.GeoIPSHA, Basis: s.GeoIPBasis,
			AgeDays: s.GeoIPAgeDays, AgeKnown: s.GeoIPBasis != "" && s.GeoIPAgeDays >= 0}}
	if s.GeoIPBuild != "" {
		t, err := time.Parse(time.RFC3339, s.GeoIPBuild)
		if err != nil {
			return row, fmt.Errorf("finding %d (%s): geoip_build: %w", f.ID, f.Subject, err)
		}
		row.GeoIP.BuildDate = t
	}
	if row.Physics == "" {
		row.Physics = "unverifiable (no RTT measured to these addresses)"
	}
	return row, nil
}
