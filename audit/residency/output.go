package residency

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/varde/varde/geoip"
	"github.com/varde/varde/geoip/cloud"
	"github.com/varde/varde/resolver"
)

// Observation is one fact gathered by an audit, as storage keeps it: a resolution of a host, or one
// database's (or provider file's, or vantage's) answer about one address.
type Observation struct {
	Kind  string     `json:"kind"` // one of the Observation* kinds
	Store string     `json:"store"`
	Host  string     `json:"host"`
	Addr  netip.Addr `json:"addr,omitzero"`
	// Resolution and ResolveError are set for kind "resolution".
	Resolution   *resolver.Resolution `json:"resolution,omitempty"`
	ResolveError string               `json:"resolve_error,omitempty"`
	GeoIP        *geoip.Answer        `json:"geoip,omitempty"`
	Cloud        *cloud.Match         `json:"cloud,omitempty"`
	RTT          *RTTObservation      `json:"rtt,omitempty"`
}

// Observation kinds.
const (
	ObservationResolution = "resolution"
	ObservationGeoIP      = "geoip"
	ObservationCloud      = "cloud"
	ObservationRTT        = "rtt"
)

// Observations flattens the evidence of every store into storage rows, in inventory order.
func (r *Result) Observations() []Observation {
	var out []Observation
	for _, s := range r.Stores {
		for _, h := range s.Hosts {
			o := Observation{Kind: ObservationResolution, Store: s.Store.Name, Host: h.Host}
			res := h.Resolution
			o.Resolution = &res
			if h.Err != nil {
				o.ResolveError = h.Err.Error()
			}
			out = append(out, o)
			for _, a := range h.Addrs {
				for i := range a.GeoIP {
					out = append(out, Observation{Kind: ObservationGeoIP, Store: s.Store.Name, Host: h.Host, Addr: a.Addr, GeoIP: &a.GeoIP[i]})
				}
				if a.Cloud != nil {
					out = append(out, Observation{Kind: ObservationCloud, Store: s.Store.Name, Host: h.Host, Addr: a.Addr, Cloud: a.Cloud})
				}
				for i := range a.RTT {
					out = append(out, Observation{Kind: ObservationRTT, Store: s.Store.Name, Host: h.Host, Addr: a.Addr, RTT: &a.RTT[i]})
				}
			}
		}
	}
	return out
}

// jsonReport is the --json layout.
type jsonReport struct {
	RulesVersion string             `json:"rules_version"`
	Date         string             `json:"date"`
	Inventory    string             `json:"inventory"`
	Sources      []jsonSource       `json:"geoip_sources"`
	Policy       Policy             `json:"policy"`
	Headline     map[Status]int     `json:"headline"`
	Stores       []jsonStore        `json:"stores"`
	Findings     []Finding          `json:"findings"`
	Records      []ProcessingRecord `json:"records_of_processing"`
	Observations []Observation      `json:"observations"`
}

type jsonSource struct {
	geoip.Provenance
	Basis   GeoIPBasis `json:"basis"`
	AgeDays int        `json:"age_days"` // at the lookups; -1 without a build date
}

type jsonStore struct {
	Name      string       `json:"name"`
	Location  string       `json:"location"`
	Pos       string       `json:"pos"`
	Kind      string       `json:"kind"`
	Purpose   string       `json:"purpose"`
	Category  DataCategory `json:"data_category"`
	Role      Role         `json:"role"`
	Mechanism Mechanism    `json:"transfer_mechanism"`
	Verdict   Verdict      `json:"verdict"`
	Status    Status       `json:"status"`
	Compliant bool         `json:"compliant"`
	Severity  Severity     `json:"severity"`
	Countries []string     `json:"countries"`
	Addresses []netip.Addr `json:"addresses"`
}

// WriteJSON writes the whole result as one indented JSON document.
func WriteJSON(w io.Writer, r *Result) error {
	rep := jsonReport{RulesVersion: r.RulesVersion, Date: r.Date.Format(time.DateOnly), Inventory: r.Inventory,
		Policy: r.Policy, Headline: r.Headline(), Findings: r.Findings(), Records: r.Records, Observations: r.Observations()}
	for _, st := range Statuses() {
		rep.Headline[st] += 0 // every status appears, zero included
	}
	for _, p := range r.Sources {
		rep.Sources = append(rep.Sources, jsonSource{Provenance: p, Basis: Basis(p), AgeDays: AgeDays(p, r.LookedUp)})
	}
	for _, s := range r.Stores {
		js := jsonStore{Name: s.Store.Name, Location: s.Store.Location, Pos: s.Store.Pos, Kind: s.Store.Kind,
			Purpose: s.Store.Purpose, Category: s.Store.Category, Role: s.Store.Role, Mechanism: s.Store.Mechanism,
			Verdict: s.Verdict, Status: s.Status, Compliant: s.Compliant, Severity: s.Severity, Countries: s.Countries}
		for _, a := range s.Addresses {
			js.Addresses = append(js.Addresses, a.Addr)
		}
		rep.Stores = append(rep.Stores, js)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes a plain-text summary: stores, findings of severity low and above, and the Art. 30(1)(e)
// rows. Its layout is pinned by a golden file.
func WriteTable(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "Data residency — rules %s in force on %s — inventory %s\n", r.RulesVersion,
		r.Date.Format(time.DateOnly), r.Inventory)
	for _, p := range r.Sources {
		fmt.Fprintf(ew, "GeoIP: %s", strings.TrimPrefix(ProvenanceLine(p, r.LookedUp), "geoip "))
		if p.Attribution != "" {
			fmt.Fprintf(ew, " — %s", firstLine(p.Attribution))
		}
		fmt.Fprintln(ew)
	}
	h := r.Headline()
	fmt.Fprintf(ew, "\nStores: %d compliant, %d not compliant, %d not shown compliant (unknown, anycast and needs-review count as not shown compliant)\n\n",
		h[StatusCompliant], h[StatusNotCompliant], h[StatusNotShownCompliant])
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STORE\tVERDICT\tSTATUS\tSEVERITY\tCOUNTRIES\tADDRESSES")
	for _, s := range r.Stores {
		var addrs []string
		for _, a := range s.Addresses {
			addrs = append(addrs, a.Addr.String())
		}
		for _, h := range s.Hosts {
			if h.Err != nil || len(h.Addrs) == 0 {
				addrs = append(addrs, h.Host+" (unresolved)")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Store.Name, s.Verdict, s.Status, s.Severity,
			dashIfEmpty(strings.Join(s.Countries, ",")), strings.Join(addrs, " "))
	}
	tw.Flush()

	fmt.Fprintln(ew, "\nFindings (severity low and above):")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tSTORE\tRULE\tSUBJECT\tMESSAGE")
	for _, f := range r.Findings() {
		if f.Severity.rank() < SeverityLow.rank() || f.RuleID == RuleStore { // the store table has the verdict
			continue
		}
		msg := strings.TrimSuffix(strings.TrimSuffix(f.Message, " "+PhysicsMethod), ". "+DatatilsynetRemote)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Store, strings.TrimPrefix(f.RuleID, "residency."), f.Subject, msg)
	}
	tw.Flush()

	fmt.Fprintln(ew, "\nRecords of processing, GDPR Art. 30(1)(e):")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STORE\tDESTINATION\tTRANSFER\tVERDICT\tMECHANISM\tARTICLE")
	for _, rec := range r.Records {
		dest := rec.Country
		if rec.Recipient != "" {
			dest = rec.Recipient
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", rec.Store, dashIfEmpty(dest), transferWord(rec.ThirdCountry), rec.Verdict, rec.Mechanism, rec.Article)
	}
	tw.Flush()
	fmt.Fprintf(ew, "\nEvery finding cites %s, which makes the GDPR Norwegian law.\n", NorwegianAct)
	fmt.Fprintf(ew, "Note: %s.\n", DatatilsynetRemote)
	fmt.Fprintf(ew, "Physics: %s\n", PhysicsMethod)
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func transferWord(third bool) string {
	if third {
		return "third country"
	}
	return "none (EEA)"
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
