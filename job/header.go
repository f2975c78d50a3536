package job

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/varde/varde"
	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/geoip"
	"github.com/varde/varde/storage"
)

// header is what an audit claims besides its audits row: vantages with coordinates, the build, the rules
// table's hash, and the hash (and build date) of every file it reads. Files are hashed as they are now;
// a file that changes before the residency step reads it shows as a different sha256 in the
// observations than in the header.
func header(cfg *Config) (*storage.Header, error) {
	h := &storage.Header{Build: varde.ReadBuild().Fields(), RulesSHA256: residency.RulesSHA256()}
	for _, v := range cfg.Vantages {
		h.Vantages = append(h.Vantages, storage.HeaderVantage{Name: v.Name, City: v.City, Latitude: v.Latitude,
			Longitude: v.Longitude, Network: v.Network, ASN: v.ASN})
	}
	if cfg.Inventory != "" {
		p := cfg.Path(cfg.Inventory)
		sum, err := fileSHA256(p)
		if err != nil {
			return nil, fmt.Errorf("audit header: inventory: %w", err)
		}
		h.Inventory, h.InventorySHA256 = p, sum
	}
	geoDB := func(db *geoip.DB, err error) error {
		if err != nil {
			return err
		}
		defer db.Close()
		p := db.Provenance()
		f := storage.InputFile{Kind: "geoip", Path: p.Path, SHA256: p.SHA256}
		if !p.BuildEpoch.IsZero() {
			f.BuildDate = p.BuildEpoch.UTC().Format(time.RFC3339)
		}
		h.Files = append(h.Files, f)
		return nil
	}
	if len(cfg.GeoIPDBs) == 0 {
		if err := geoDB(geoip.OpenDefault()); err != nil {
			return nil, fmt.Errorf("audit header: GeoIP: %w", err)
		}
	}
	for _, p := range cfg.paths(cfg.GeoIPDBs) {
		if err := geoDB(geoip.Open(p)); err != nil {
			return nil, fmt.Errorf("audit header: GeoIP %s: %w", p, err)
		}
	}
	for _, p := range cfg.paths(cfg.CloudRanges) {
		sum, err := fileSHA256(p)
		if err != nil {
			return nil, fmt.Errorf("audit header: cloud ranges: %w", err)
		}
		h.Files = append(h.Files, storage.InputFile{Kind: "cloud_ranges", Path: p, SHA256: sum})
	}
	for _, p := range cfg.paths(cfg.RTTFiles) {
		sum, err := fileSHA256(p)
		if err != nil {
			return nil, fmt.Errorf("audit header: rtt file: %w", err)
		}
		h.Files = append(h.Files, storage.InputFile{Kind: "rtt", Path: p, SHA256: sum})
	}
	return h, nil
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
