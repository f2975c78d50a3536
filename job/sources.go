package job

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

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
		found, err := DiscoverGeoIP(GeoIPUpdateConfs, GeoIPUpdateDirs)
		if err != nil {
			return nil, err
		}
		if found != "" {
			if logger != nil {
				logger.Info("using the GeoIP database geoipupdate maintains", "path", found)
			}
			geoipDBs = []string{found}
		} else if err := open(geoip.OpenDefault()); err != nil {
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

// GeoIPUpdateConfs are where geoipupdate's GeoIP.conf lives; its DatabaseDirectory is searched first.
var GeoIPUpdateConfs = []string{"/etc/GeoIP.conf", "/usr/local/etc/GeoIP.conf"}

// GeoIPUpdateDirs are geoipupdate's default database directories (MaxMind's convention), searched after
// any DatabaseDirectory.
var GeoIPUpdateDirs = []string{"/usr/share/GeoIP", "/var/lib/GeoIP"}

// geoipUpdateNames are the databases geoipupdate writes, best first: location-based City, then Country.
var geoipUpdateNames = []string{"GeoIP2-City.mmdb", "GeoIP2-Country.mmdb", "GeoLite2-City.mmdb", "GeoLite2-Country.mmdb"}

// DiscoverGeoIP returns the best database that geoipupdate maintains: the DatabaseDirectory of the first
// GeoIP.conf that exists, then dirs, in order; "" when there is none, so the shipped default is used. A
// GeoIP.conf that cannot be read is an error naming it, rather than a silent fall back to the default.
func DiscoverGeoIP(confs, dirs []string) (string, error) {
	var search []string
	for _, c := range confs {
		b, err := os.ReadFile(c)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("geoipupdate config %s: %w", c, err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
			if k == "DatabaseDirectory" && strings.TrimSpace(v) != "" {
				search = append(search, strings.TrimSpace(v))
			}
		}
		break
	}
	for _, d := range append(search, dirs...) {
		for _, n := range geoipUpdateNames {
			p := filepath.Join(d, n)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	return "", nil
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
