package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/job"
	"github.com/varde/varde/storage"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// cmdResidency judges where each data store of an inventory is, against the EEA and adequacy rules.
func cmdResidency(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "residency")
	inventory := fs.String("inventory", "", "data-store inventory (YAML), required")
	var dbs, ranges, vantages listFlag
	fs.Var(&dbs, "geoip-db", "GeoIP2/GeoLite2 Country or City database (repeatable; default: the embedded geo-whois-asn-country)")
	fs.Var(&ranges, "cloud-ranges", "cloud provider ranges: AWS ip-ranges.json, Google cloud.json, Azure service tags (repeatable)")
	rttPath := fs.String("rtt", "", "`varde probe --json` output whose ICMP minimum RTTs feed the physics check")
	fs.Var(&vantages, "vantage", "coordinates of a vantage in the --rtt file, NAME=LAT,LON (repeatable)")
	date := fs.String("date", "", "apply the rules in force on this day, YYYY-MM-DD (default: today, UTC)")
	asJSON := fs.Bool("json", false, "write JSON instead of a table")
	var sf storeFlags
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *inventory == "" {
		return usagef("residency: --inventory is required")
	}
	if fs.NArg() > 0 {
		return usagef("residency: unexpected argument %q", fs.Arg(0))
	}
	cfg := residency.Config{Logger: e.logger}
	if *date != "" {
		d, err := time.Parse(time.DateOnly, *date)
		if err != nil {
			return usagef("residency: --date %q: want YYYY-MM-DD", *date)
		}
		cfg.Date = d
	}
	inv, err := residency.LoadInventory(*inventory)
	if err != nil {
		return err
	}
	src, err := job.OpenSources(dbs, ranges, e.logger)
	if err != nil {
		return err
	}
	defer src.Close()
	src.Apply(&cfg)
	if *rttPath != "" {
		vs := map[string]residency.Vantage{}
		for _, s := range vantages {
			v, err := residency.ParseVantage(s)
			if err != nil {
				return usagef("residency: --vantage: %v", err)
			}
			vs[v.Name] = v
		}
		t, err := job.LoadProbeRTT(*rttPath, vs)
		if err != nil {
			return err
		}
		cfg.RTT = t
	} else if len(vantages) > 0 {
		return usagef("residency: --vantage needs --rtt")
	}
	res, err := residency.Audit(ctx, cfg, inv)
	if err != nil {
		return err
	}
	if *asJSON {
		err = residency.WriteJSON(e.stdout, res)
	} else if err = residency.WriteTable(e.stdout, res); err != nil {
		err = fmt.Errorf("residency: writing the table: %w", err)
	}
	if err != nil || !sf.store {
		return err
	}
	return e.storeEvidence(ctx, sf, res.RulesVersion, func(s *storage.Store, id int64) error {
		obs, findings, err := job.ResidencyRecords(res, time.Now())
		if err != nil {
			return err
		}
		if err := s.AppendObservations(ctx, id, obs); err != nil {
			return err
		}
		return s.AppendFindings(ctx, id, findings)
	})
}
