package residency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/varde/varde/geoip"
	"github.com/varde/varde/geoip/cloud"
	"github.com/varde/varde/resolver"
)

// Resolver resolves a host to every A and AAAA address (*resolver.Resolver satisfies it).
type Resolver interface {
	Resolve(ctx context.Context, host string) (resolver.Resolution, error)
}

// Locator answers GeoIP questions (*geoip.DB satisfies it).
type Locator interface {
	Lookup(addr netip.Addr) (geoip.Answer, error)
}

// CloudLocator finds an address in cloud providers' published ranges (*cloud.Ranges satisfies it).
type CloudLocator interface {
	Lookup(addr netip.Addr) (cloud.Match, bool)
}

// RTTSource gives the minimum RTTs measured to an address, e.g. from stored probe measurements.
type RTTSource interface {
	RTT(ctx context.Context, addr netip.Addr) ([]RTTObservation, error)
}

// RTTTable is an RTTSource over observations already in memory (loaded from probe results or storage).
type RTTTable map[netip.Addr][]RTTObservation

// RTT returns the observations for addr.
func (t RTTTable) RTT(_ context.Context, addr netip.Addr) ([]RTTObservation, error) {
	return t[addr], nil
}

// Add keeps o if it is the lowest minimum RTT so far to its address from its vantage: the physics check
// wants the minimum per address per vantage, over every measurement given.
func (t RTTTable) Add(o RTTObservation) {
	o.Addr = o.Addr.Unmap()
	for i, prev := range t[o.Addr] {
		if prev.Vantage.Name == o.Vantage.Name {
			if o.MinRTT < prev.MinRTT {
				t[o.Addr][i] = o
			}
			return
		}
	}
	t[o.Addr] = append(t[o.Addr], o)
}

// Config configures an Audit. Resolver and at least one Locator are required.
type Config struct {
	// Date selects the rules in force (e.g. the last day of the audited quarter). Zero means today by Now.
	Date time.Time
	// Now is the clock; default time.Now.
	Now      func() time.Time
	Resolver Resolver
	Locators []Locator
	Cloud    CloudLocator // optional second witness
	RTT      RTTSource    // optional; without it physics is "unverifiable"
	// Concurrency bounds parallel DNS resolutions; default 8.
	Concurrency int
	Logger      *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Date.IsZero() {
		c.Date = c.Now()
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Resolver == nil {
		return errors.New("residency: Config.Resolver is required")
	}
	if len(c.Locators) == 0 {
		return errors.New("residency: at least one GeoIP Locator is required")
	}
	return nil
}

// Result is the outcome of an audit of one inventory.
type Result struct {
	RulesVersion string
	Date         time.Time
	Inventory    string
	Stores       []StoreResult
	Records      []ProcessingRecord
	// Sources is the provenance of every GeoIP database consulted, in the order given.
	Sources []geoip.Provenance
	// LookedUp is when the sources were consulted: database ages are taken at this time.
	LookedUp time.Time
	// Policy is the policy the stores were judged under, defaults filled in.
	Policy Policy
	// SourceFindings judge the databases themselves (age, basis); they belong to no store.
	SourceFindings []Finding
}

// Headline counts the stores by status.
func (r *Result) Headline() map[Status]int {
	out := map[Status]int{}
	for _, s := range r.Stores {
		out[s.Status]++
	}
	return out
}

// Findings returns the source findings, then every finding of every store in inventory order.
func (r *Result) Findings() []Finding {
	out := append([]Finding(nil), r.SourceFindings...)
	for _, s := range r.Stores {
		out = append(out, s.Findings...)
	}
	return out
}

// Audit resolves every host of the inventory, looks every address up, and judges each store with the rules
// in force on cfg.Date. A host that does not resolve becomes an "unknown" finding; a GeoIP lookup error (a
// corrupt record) or an RTT source error aborts the audit.
func Audit(ctx context.Context, cfg Config, inv *Inventory) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	rules, err := RulesAt(cfg.Date)
	if err != nil {
		return nil, err
	}
	if err := inv.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", inv.Path, err)
	}
	rules = rules.WithPolicy(inv.Policy)
	geo, err := Countries()
	if err != nil {
		return nil, err
	}
	// Resolve each distinct host once, in parallel.
	type resolved struct {
		res resolver.Resolution
		err error
	}
	hostRes := map[string]*resolved{}
	var order []string
	for _, s := range inv.Stores {
		for _, h := range s.Hosts {
			if _, ok := hostRes[h]; !ok {
				hostRes[h] = &resolved{}
				order = append(order, h)
			}
		}
	}
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for _, h := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(h string, out *resolved) {
			defer func() { <-sem; wg.Done() }()
			out.res, out.err = cfg.Resolver.Resolve(ctx, h)
			var re *resolver.Error
			if errors.As(out.err, &re) && out.res.Resolver == "" {
				out.res.Resolver = re.Resolver // record which resolver failed
			}
			if out.err != nil {
				cfg.Logger.DebugContext(ctx, "host does not resolve", "host", h, "err", out.err)
			}
		}(h, hostRes[h])
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	addrEv := map[netip.Addr]*AddressEvidence{}
	evidence := func(a netip.Addr) (AddressEvidence, error) {
		if ev, ok := addrEv[a]; ok {
			return *ev, nil
		}
		ev := &AddressEvidence{Addr: a}
		for _, l := range cfg.Locators {
			ans, err := l.Lookup(a)
			if err != nil {
				return AddressEvidence{}, fmt.Errorf("geoip lookup of %s: %w", a, err)
			}
			ev.GeoIP = append(ev.GeoIP, ans)
		}
		if cfg.Cloud != nil {
			if m, ok := cfg.Cloud.Lookup(a); ok {
				ev.Cloud = &m
			}
		}
		if cfg.RTT != nil {
			rtt, err := cfg.RTT.RTT(ctx, a)
			if err != nil {
				return AddressEvidence{}, fmt.Errorf("rtt for %s: %w", a, err)
			}
			ev.RTT = rtt
		}
		addrEv[a] = ev
		return *ev, nil
	}

	out := &Result{RulesVersion: rules.Version, Date: rules.Date, Inventory: inv.Path, LookedUp: cfg.Now(), Policy: rules.Policy}
	for _, l := range cfg.Locators {
		if p, ok := l.(interface{ Provenance() geoip.Provenance }); ok {
			out.Sources = append(out.Sources, p.Provenance())
		}
	}
	out.SourceFindings = JudgeSources(rules, out.LookedUp, out.Sources)
	for _, s := range inv.Stores {
		var hosts []HostEvidence
		for _, h := range s.Hosts {
			r := hostRes[h]
			he := HostEvidence{Host: h, Resolution: r.res, Err: r.err}
			if he.Resolution.Host == "" {
				he.Resolution.Host = h
			}
			if r.err == nil {
				for _, a := range r.res.Addrs {
					ev, err := evidence(a)
					if err != nil {
						return nil, fmt.Errorf("store %q (%s): %w", s.Name, s.Pos, err)
					}
					he.Addrs = append(he.Addrs, ev)
				}
			}
			hosts = append(hosts, he)
		}
		out.Stores = append(out.Stores, JudgeStore(rules, geo, s, hosts))
	}
	out.Records = Records(out.Stores)
	return out, nil
}
