package job

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/geoip"
	"github.com/varde/varde/geoip/cloud"
	"github.com/varde/varde/resolver"
)

// Sources are the witnesses of where an address is, opened once for the residency rules: GeoIP databases
// (the shipped default when none is named), cloud provider ranges (optional) and the DNS resolver.
// Close them.
type Sources struct {
	Locators []residency.Locator
	Cloud    residency.CloudLocator // nil without range files
	Resolver residency.Resolver
	dbs      []*geoip.DB
}

// OpenSources opens the GeoIP databases and cloud range files at the given paths.
func OpenSources(geoipDBs, cloudRanges []string, logger *slog.Logger) (*Sources, error) {
	s := &Sources{}
	open := func(db *geoip.DB, err error) error {
		if err != nil {
			return err
		}
		s.dbs = append(s.dbs, db)
		s.Locators = append(s.Locators, db)
		return nil
	}
	if len(geoipDBs) == 0 {
		if err := open(geoip.OpenDefault()); err != nil {
			return nil, err
		}
	}
	for _, p := range geoipDBs {
		if err := open(geoip.Open(p)); err != nil {
			s.Close()
			return nil, err
		}
	}
	if len(cloudRanges) > 0 {
		cr, err := cloud.LoadAll(cloudRanges)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Cloud = cr
	}
	res, err := resolver.New(resolver.Config{Logger: logger})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("resolver: %w", err)
	}
	s.Resolver = res
	return s, nil
}

// Apply puts the sources into a residency config.
func (s *Sources) Apply(cfg *residency.Config) {
	cfg.Locators, cfg.Cloud, cfg.Resolver = s.Locators, s.Cloud, s.Resolver
}

// Close closes the GeoIP databases.
func (s *Sources) Close() error {
	var errs []error
	for _, db := range s.dbs {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}
