// Package geoip answers where an IP address is according to a GeoIP database: the located,
// registered and represented country, anycast, and city coordinates when the database has them.
// It reads MaxMind GeoIP2/GeoLite2 Country and City databases through geoip2-golang and
// country-only databases (records holding just country_code, such as the shipped CC0
// geo-whois-asn-country default) through maxminddb-golang. Every answer carries the provenance of
// the database (type, build epoch, sha256) because an observation is evidence.
//
// It deliberately never reads MaxMind's is_in_european_union: it is false for Norway and the
// EEA decision belongs to the rules in audit/residency.
package geoip

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/varde/varde"
)

// Provenance identifies the database an answer came from.
type Provenance struct {
	// Path is the file path, or "embedded:geo-whois-asn-country.mmdb" for the default.
	Path string
	// DatabaseType is the database_type metadata field, e.g. "GeoIP2-City".
	DatabaseType string
	// Description is the English description metadata.
	Description string
	// Attribution is the licence and attribution text; empty for user-supplied databases.
	Attribution string
	// Version is the upstream package version of the default database; empty otherwise.
	Version string
	// BuildEpoch is the build_epoch metadata field.
	BuildEpoch time.Time
	// SHA256 is the hex sha256 of the (uncompressed) database bytes.
	SHA256 string
	// Default is true for the embedded default database.
	Default bool
}

// Answer is one GeoIP observation of one address.
type Answer struct {
	Addr    netip.Addr
	Network netip.Prefix // database network containing Addr, also when !Found
	// Found is false when the database has no record for Addr; that is not an error.
	Found              bool
	Country            string // located country, ISO 3166-1 alpha-2
	RegisteredCountry  string
	RepresentedCountry string
	RepresentedType    string // e.g. "military"
	Anycast            bool
	City               string // English name
	Lat, Lon           float64
	AccuracyKM         int
	HasLocation        bool
	Source             Provenance
}

// kind says how records are decoded.
type kind int

const (
	kindMaxMind     kind = iota // GeoIP2/GeoLite2 Country or City, through geoip2-golang
	kindCountryCode             // records of the form {country_code: "NO"}
)

// DB is an open GeoIP database. It is safe for concurrent lookups.
type DB struct {
	prov   Provenance
	kind   kind
	mm     *maxminddb.Reader
	g2     *geoip2.Reader
	mu     sync.RWMutex
	closed bool
}

// dbLimit is far above the largest GeoIP2 City databases (about 130 MiB), which are held in memory.
var dbLimit = varde.Limit{What: "a GeoIP database", Bytes: 1 << 30}

// ErrClosed is returned by Lookup after Close.
var ErrClosed = errors.New("geoip database is closed")

// Open reads a GeoIP database file. The file is read into memory, hashed and fully verified
// (search tree and data section) so a truncated or corrupt file fails here rather than on
// some later lookup.
func Open(path string) (*DB, error) {
	data, err := varde.ReadFile(path, dbLimit)
	if err != nil {
		return nil, fmt.Errorf("geoip database %w", err) // the error starts with path
	}
	return openBytes(data, Provenance{Path: path}, "")
}

// openBytes opens data. When pinnedSHA256 is set (the embedded default) a matching hash stands
// in for the full structural verification.
func openBytes(data []byte, prov Provenance, pinnedSHA256 string) (*DB, error) {
	name := prov.Path
	if len(data) == 0 {
		return nil, fmt.Errorf("geoip database %s: file is empty", name)
	}
	sum := sha256.Sum256(data)
	prov.SHA256 = hex.EncodeToString(sum[:])
	mm, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: not a readable MaxMind DB file: %w", name, err)
	}
	md := mm.Metadata
	switch {
	case pinnedSHA256 != "":
		if prov.SHA256 != pinnedSHA256 {
			return nil, fmt.Errorf("geoip database %s: sha256 %s does not match the pinned %s", name, prov.SHA256, pinnedSHA256)
		}
	case len(md.Description) == 0:
		// maxminddb's Verify insists on a description, which some third-party databases
		// (geo-whois-asn-country among them) lack; decode every record instead.
		if err := walkAll(mm); err != nil {
			return nil, fmt.Errorf("geoip database %s: corrupt: %w", name, err)
		}
	default:
		if err := mm.Verify(); err != nil {
			return nil, fmt.Errorf("geoip database %s: corrupt: %w", name, err)
		}
	}
	prov.DatabaseType = md.DatabaseType
	prov.Description = md.Description["en"]
	prov.BuildEpoch = time.Unix(int64(md.BuildEpoch), 0).UTC()
	db := &DB{prov: prov, mm: mm}

	switch {
	case isMaxMindLocationType(md.DatabaseType):
		g2, err := geoip2.OpenBytes(data)
		if err != nil {
			return nil, fmt.Errorf("geoip database %s: %w", name, err)
		}
		db.kind, db.g2 = kindMaxMind, g2
	default:
		// Not a GeoIP2 location database: accept it only when its records are country_code
		// records (sampled at a few well-populated addresses), else name the type we refuse.
		if !hasCountryCodeRecords(mm) {
			return nil, fmt.Errorf("geoip database %s: unsupported database type %q "+
				"(want a GeoIP2/GeoLite2 Country or City database, or one with country_code records)",
				name, md.DatabaseType)
		}
		db.kind = kindCountryCode
	}
	return db, nil
}

// isMaxMindLocationType lists the types geoip2-golang answers Country/City lookups for.
func isMaxMindLocationType(t string) bool {
	switch t {
	case "GeoLite2-City", "GeoLite2-Country", "GeoIP2-City", "GeoIP2-Country",
		"GeoIP2-City-Africa", "GeoIP2-City-Asia-Pacific", "GeoIP2-City-Europe",
		"GeoIP2-City-North-America", "GeoIP2-City-South-America", "GeoIP2-Precision-City",
		"GeoIP-City-Redacted-US", "GeoIP2-Enterprise", "GeoIP-Enterprise-Redacted-US",
		"DBIP-City-Lite", "DBIP-Country-Lite", "DBIP-Country", "DBIP-Location (compat=City)":
		return true
	}
	return false
}

// walkAll decodes every record reachable from the search tree.
func walkAll(mm *maxminddb.Reader) error {
	for res := range mm.Networks() {
		if err := res.Err(); err != nil {
			return err
		}
		var v any
		if err := res.Decode(&v); err != nil {
			return fmt.Errorf("record for %s: %w", res.Prefix(), err)
		}
	}
	return nil
}

type countryCodeRecord struct {
	CountryCode string `maxminddb:"country_code"`
}

// hasCountryCodeRecords walks the networks until it finds a record and checks it holds
// country_code; a database without any such record is not one we can interpret.
func hasCountryCodeRecords(mm *maxminddb.Reader) bool {
	n := 0
	for res := range mm.Networks() {
		if res.Err() != nil {
			return false
		}
		var rec countryCodeRecord
		if err := res.Decode(&rec); err != nil {
			return false
		}
		if rec.CountryCode != "" {
			return true
		}
		if n++; n > 64 {
			return false
		}
	}
	return false
}

// Provenance returns where the database came from.
func (db *DB) Provenance() Provenance { return db.prov }

// Close releases the database. Lookups after Close return ErrClosed.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	var err error
	if db.g2 != nil {
		err = db.g2.Close()
	}
	return errors.Join(err, db.mm.Close())
}

// Lookup answers where addr is. An address without a record gives Found=false and no error;
// errors mean the record could not be decoded and name the database file.
func (db *DB) Lookup(addr netip.Addr) (Answer, error) {
	a := Answer{Addr: addr, Source: db.prov}
	if !addr.IsValid() {
		return a, fmt.Errorf("geoip lookup in %s: invalid address", db.prov.Path)
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return a, fmt.Errorf("geoip lookup in %s: %w", db.prov.Path, ErrClosed)
	}
	addr = addr.Unmap()
	a.Addr = addr
	if addr.Is6() && db.mm.Metadata.IPVersion == 4 {
		// An IPv4-only database simply has no answer for IPv6 (maxminddb would call it an error).
		return a, nil
	}
	switch db.kind {
	case kindMaxMind:
		c, err := db.g2.City(addr)
		if err != nil {
			return a, fmt.Errorf("geoip lookup of %s in %s: %w", addr, db.prov.Path, err)
		}
		a.Network = c.Traits.Network
		// Whether the database has a record is a question for the search tree, not for the City
		// decode: a record holding only fields City does not read (Enterprise ISP or connection
		// type) is still a record.
		rec := db.mm.Lookup(addr)
		if err := rec.Err(); err != nil {
			return a, fmt.Errorf("geoip lookup of %s in %s: %w", addr, db.prov.Path, err)
		}
		a.Found = rec.Found()
		a.Country = c.Country.ISOCode
		a.RegisteredCountry = c.RegisteredCountry.ISOCode
		a.RepresentedCountry = c.RepresentedCountry.ISOCode
		a.RepresentedType = c.RepresentedCountry.Type
		a.Anycast = c.Traits.IsAnycast
		a.City = c.City.Names.English
		if c.Location.Latitude != nil && c.Location.Longitude != nil {
			a.Lat, a.Lon, a.HasLocation = *c.Location.Latitude, *c.Location.Longitude, true
		}
		a.AccuracyKM = int(c.Location.AccuracyRadius)
	case kindCountryCode:
		res := db.mm.Lookup(addr)
		if err := res.Err(); err != nil {
			return a, fmt.Errorf("geoip lookup of %s in %s: %w", addr, db.prov.Path, err)
		}
		a.Network = res.Prefix()
		if res.Found() {
			var rec countryCodeRecord
			if err := res.Decode(&rec); err != nil {
				return a, fmt.Errorf("geoip lookup of %s in %s: %w", addr, db.prov.Path, err)
			}
			a.Country = rec.CountryCode
			a.Found = rec.CountryCode != ""
		}
	}
	return a, nil
}
