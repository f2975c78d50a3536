package job

import (
	"encoding/json"
	"fmt"
	"net/netip"
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
	Compliant  bool     `json:"compliant"`
	LegalBasis string   `json:"legal_basis"`
	Physics    []string `json:"physics"`
	GeoIPType  string   `json:"geoip_type"`
	GeoIPBuild string   `json:"geoip_build"`
	GeoIPSHA   string   `json:"geoip_sha256"`
}

// ruleStoreSummary is the rule whose findings carry a storeSummary.
const ruleStoreSummary = residency.RuleStore

// RTTTable gives the residency physics check the minimum RTT measured to each address from a vantage with
// known coordinates, over every probe kind.
func RTTTable(rs []probes.Result, v residency.Vantage) residency.RTTTable {
	t := residency.RTTTable{}
	best := map[netip.Addr]int{}
	for _, r := range rs {
		if !r.Address.IsValid() || r.Stats.Received == 0 {
			continue
		}
		a := r.Address.Unmap()
		obs := residency.RTTObservation{Vantage: v, Addr: a, MinRTT: r.Stats.Min, Received: r.Stats.Received, MeasuredAt: r.Started}
		if i, ok := best[a]; ok {
			if obs.MinRTT < t[a][i].MinRTT {
				t[a][i] = obs
			}
			continue
		}
		best[a] = len(t[a])
		t[a] = append(t[a], obs)
	}
	return t
}

// ResidencyRecords turns a residency result into storage observations and findings.
func ResidencyRecords(res *residency.Result, now time.Time) ([]storage.Observation, []storage.Finding) {
	var obs []storage.Observation
	for _, o := range res.Observations() {
		details, _ := json.Marshal(o)
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
	for _, sr := range res.Stores {
		for _, f := range sr.Findings {
			ev := map[string]any{"finding": f, "compliant": f.Compliant, "evidence": f.Evidence}
			if f.RuleID == residency.RuleStore {
				ev["summary"] = summarise(sr, records, res)
			}
			b, _ := json.Marshal(ev)
			findings = append(findings, storage.Finding{
				Subject: f.Subject, RuleID: f.RuleID, LegalReference: strings.Join(f.References, "; "),
				Severity: string(f.Severity), Verdict: string(f.Verdict), Summary: f.Message, Evidence: b, CreatedAt: now,
			})
		}
	}
	return obs, findings
}

func summarise(sr residency.StoreResult, records []residency.ProcessingRecord, res *residency.Result) storeSummary {
	s := storeSummary{Store: sr.Store.Name, Location: sr.Store.Location, Countries: sr.Countries,
		Verdict: string(sr.Verdict), Compliant: sr.Compliant}
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
			line := fmt.Sprintf("%s: %s", a.Addr, p.Class)
			if p.Vantage != "" {
				line += fmt.Sprintf(" (%s, min RTT %.2f ms, radius %.0f km)", p.Vantage, float64(p.MinRTT)/1e6, p.RadiusKm)
			}
			s.Physics = append(s.Physics, line)
		}
	}
	if len(res.Sources) > 0 {
		p := res.Sources[0]
		s.GeoIPType, s.GeoIPSHA = p.DatabaseType, p.SHA256
		if !p.BuildEpoch.IsZero() {
			s.GeoIPBuild = p.BuildEpoch.UTC().Format(time.RFC3339)
		}
	}
	return s
}

// residencyRow rebuilds a report row from a stored store-level finding.
func residencyRow(f storage.Finding) (reports.ResidencyRow, bool) {
	var ev struct {
		Summary *storeSummary `json:"summary"`
	}
	if json.Unmarshal(f.Evidence, &ev) != nil || ev.Summary == nil {
		return reports.ResidencyRow{}, false
	}
	s := ev.Summary
	verdict := s.Verdict
	if !s.Compliant {
		verdict += " (not compliant)"
	}
	row := reports.ResidencyRow{Store: s.Store + " — " + s.Location, Addresses: s.Addresses,
		Country: strings.Join(s.Countries, ", "), Verdict: verdict, LegalBasis: s.LegalBasis,
		Physics: strings.Join(s.Physics, "; "),
		GeoIP:   reports.DatabaseProvenance{Type: s.GeoIPType, SHA256: s.GeoIPSHA}}
	if t, err := time.Parse(time.RFC3339, s.GeoIPBuild); err == nil {
		row.GeoIP.BuildDate = t
	}
	if row.Physics == "" {
		row.Physics = "unverifiable (no RTT measured to these addresses)"
	}
	return row, true
}
