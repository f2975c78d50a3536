package geoip

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

func mustOpen(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func lookup(t *testing.T, db *DB, s string) Answer {
	t.Helper()
	a, err := db.Lookup(netip.MustParseAddr(s))
	if err != nil {
		t.Fatalf("Lookup(%s): %v", s, err)
	}
	return a
}

// MaxMind's test databases: facts documented in GeoIP2-Country-Test.json.
func TestMaxMindTestDatabases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, dbType string
		anycast      bool // GeoLite2-Country-Test has no anycast network
		city         bool
	}{
		{"GeoIP2-City-Test.mmdb", "GeoIP2-City", true, true},
		{"GeoIP2-Country-Test.mmdb", "GeoIP2-Country", true, false},
		{"GeoLite2-Country-Test.mmdb", "GeoLite2-Country", false, false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", tc.file)
			db := mustOpen(t, path)
			p := db.Provenance()
			if p.Path != path || p.DatabaseType != tc.dbType || p.Default || p.Attribution != "" {
				t.Errorf("provenance = %+v", p)
			}
			if want := time.Date(2026, 2, 4, 22, 49, 29, 0, time.UTC); !p.BuildEpoch.Equal(want) {
				t.Errorf("build epoch = %v, want %v", p.BuildEpoch, want)
			}
			if len(p.SHA256) != 64 || !strings.Contains(p.Description, "Test Database") {
				t.Errorf("sha256/description = %q/%q", p.SHA256, p.Description)
			}

			// Located in GB, registered in the US.
			a := lookup(t, db, "81.2.69.142")
			if !a.Found || a.Country != "GB" || a.RegisteredCountry != "US" || a.Anycast {
				t.Errorf("81.2.69.142 = %+v", a)
			}
			if a.Network != netip.MustParsePrefix("81.2.69.142/31") || a.Source.SHA256 != p.SHA256 {
				t.Errorf("81.2.69.142 network/source = %v/%v", a.Network, a.Source)
			}
			if tc.city {
				if a.City != "London" || !a.HasLocation || a.AccuracyKM != 10 || a.Lat < 51 || a.Lat > 52 || a.Lon > 0 || a.Lon < -1 {
					t.Errorf("81.2.69.142 city = %+v", a)
				}
			} else if a.HasLocation || a.City != "" {
				t.Errorf("country DB gave a location: %+v", a)
			}
			// IPv4-mapped IPv6 is the same address.
			if m := lookup(t, db, "::ffff:81.2.69.142"); m.Country != "GB" || m.Addr != netip.MustParseAddr("81.2.69.142") {
				t.Errorf("mapped lookup = %+v", m)
			}

			// Represented country: US military in the Philippines.
			r := lookup(t, db, "202.196.224.1")
			if r.Country != "PH" || r.RegisteredCountry != "PH" || r.RepresentedCountry != "US" || r.RepresentedType != "military" {
				t.Errorf("202.196.224.1 = %+v", r)
			}

			// Anycast network without a country.
			any := lookup(t, db, "214.1.1.1")
			if any.Anycast != tc.anycast || any.Country != "" {
				t.Errorf("214.1.1.1 = %+v, want anycast %v", any, tc.anycast)
			}
			if tc.anycast && (!any.Found || any.Network != netip.MustParsePrefix("214.1.1.0/24")) {
				t.Errorf("214.1.1.1 = %+v", any)
			}

			// No record: Found false, not an error.
			if n := lookup(t, db, "1.1.1.1"); n.Found || n.Country != "" {
				t.Errorf("1.1.1.1 = %+v", n)
			}
			if s := lookup(t, db, "2001:218::1"); s.Country != "JP" {
				t.Errorf("2001:218::1 = %+v", s)
			}
		})
	}
}

func TestOpenBadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, err := os.ReadFile("testdata/GeoIP2-City-Test.mmdb")
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mmdb")
	if err := os.WriteFile(truncated, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	flipped := filepath.Join(dir, "flipped.mmdb")
	bad := append([]byte(nil), good...)
	for i := 100; i < 400; i++ { // scribble over the search tree
		bad[i] ^= 0xA5
	}
	if err := os.WriteFile(flipped, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.mmdb")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"testdata/GeoIP2-City-Test-Broken-Double-Format.mmdb", "corrupt"},
		{"testdata/GeoLite2-ASN-Test.mmdb", `unsupported database type "GeoLite2-ASN"`},
		{"testdata/GeoIP2-Country-Test.json", "not a readable MaxMind DB"},
		{filepath.Join(dir, "missing.mmdb"), "no such file"},
		{truncated, ""},
		{flipped, ""},
		{empty, "empty"},
	} {
		db, err := Open(tc.path)
		if err == nil {
			db.Close()
			t.Errorf("Open(%s) succeeded", tc.path)
			continue
		}
		if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) error %q does not name the file and %q", tc.path, err, tc.want)
		}
	}
}

func TestDefaultDatabase(t *testing.T) {
	t.Parallel()
	db, err := OpenDefault()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := db.Provenance()
	if !p.Default || p.Path != DefaultPath || p.Version == "" || !strings.Contains(p.Attribution, "CC0") ||
		len(p.SHA256) != 64 || p.BuildEpoch.Year() < 2025 || p.DatabaseType == "" {
		t.Errorf("provenance = %+v", p)
	}
	// The sample-inventory addresses (also listed in the API note for audit/residency).
	for addr, want := range map[string]string{
		"51.120.0.1":     "NO", // Azure Norway East
		"84.208.20.110":  "NO",
		"2001:700::1":    "NO", // Sikt
		"13.48.0.1":      "SE", // AWS eu-north-1
		"130.237.72.201": "SE",
		"88.198.1.1":     "DE", // Hetzner
		"193.99.144.80":  "DE",
		"52.16.0.1":      "IE", // AWS eu-west-1
		"134.226.1.1":    "IE",
		"212.58.244.1":   "GB",
		"81.2.69.142":    "GB",
		"52.216.0.1":     "US",
		"17.1.1.1":       "US",
		"8.8.8.8":        "US", // anycast, but the default DB cannot tell
		"1.1.1.1":        "AU", // anycast, registered through APNIC
		"35.228.0.1":     "FI", // GCP europe-north1
	} {
		a := lookup(t, db, addr)
		if !a.Found || a.Country != want || a.Anycast || a.RegisteredCountry != "" || a.HasLocation || !a.Network.Contains(a.Addr) {
			t.Errorf("%s = %+v, want %s", addr, a, want)
		}
		if !a.Source.Default {
			t.Errorf("%s source = %+v", addr, a.Source)
		}
	}
	if a := lookup(t, db, "10.1.2.3"); a.Found || a.Country != "" {
		t.Errorf("private address found: %+v", a)
	}
}

func TestClosedAndInvalid(t *testing.T) {
	t.Parallel()
	db := mustOpen(t, "testdata/GeoIP2-Country-Test.mmdb")
	if _, err := db.Lookup(netip.Addr{}); err == nil || !strings.Contains(err.Error(), "testdata/GeoIP2-Country-Test.mmdb") {
		t.Errorf("invalid address: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Lookup(netip.MustParseAddr("81.2.69.142")); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v", err)
	}
}

// writeDB writes a database generated with mmdbwriter.
func writeDB(t *testing.T, opts mmdbwriter.Options, records map[string]mmdbtype.Map) string {
	t.Helper()
	opts.IncludeReservedNetworks = true // tests use documentation prefixes
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), opts.DatabaseType+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func country(iso string) mmdbtype.Map {
	// is_in_european_union is set false on purpose (as MaxMind does for Norway): the package must not read it.
	return mmdbtype.Map{"iso_code": mmdbtype.String(iso), "is_in_european_union": mmdbtype.Bool(false)}
}

func TestGeneratedCityDatabase(t *testing.T) {
	t.Parallel()
	path := writeDB(t, mmdbwriter.Options{
		DatabaseType: "GeoIP2-City",
		Description:  map[string]string{"en": "varde generated city"},
		BuildEpoch:   time.Date(2025, 9, 30, 12, 0, 0, 0, time.UTC).Unix(),
		RecordSize:   28,
	}, map[string]mmdbtype.Map{
		"192.0.2.0/24": { // Oslo, registered in Sweden
			"country":            country("NO"),
			"registered_country": country("SE"),
			"city":               mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Oslo")}},
			"location": mmdbtype.Map{
				"latitude": mmdbtype.Float64(59.9133), "longitude": mmdbtype.Float64(10.7389),
				"accuracy_radius": mmdbtype.Uint16(20),
			},
		},
		"198.51.100.0/25": { // anycast with a country
			"country": country("US"),
			"traits":  mmdbtype.Map{"is_anycast": mmdbtype.Bool(true)},
		},
		"2001:db8::/32": { // represented country without location
			"country":             country("DE"),
			"registered_country":  country("DE"),
			"represented_country": mmdbtype.Map{"iso_code": mmdbtype.String("US"), "type": mmdbtype.String("military")},
		},
		"203.0.113.0/24": {"continent": mmdbtype.Map{"code": mmdbtype.String("EU")}}, // a record without any country
	})
	db := mustOpen(t, path)
	p := db.Provenance()
	if p.DatabaseType != "GeoIP2-City" || p.Description != "varde generated city" ||
		!p.BuildEpoch.Equal(time.Date(2025, 9, 30, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("provenance = %+v", p)
	}
	a := lookup(t, db, "192.0.2.77")
	want := Answer{
		Addr: netip.MustParseAddr("192.0.2.77"), Network: netip.MustParsePrefix("192.0.2.0/24"), Found: true,
		Country: "NO", RegisteredCountry: "SE", City: "Oslo", Lat: 59.9133, Lon: 10.7389, AccuracyKM: 20,
		HasLocation: true, Source: p,
	}
	if a != want {
		t.Errorf("got  %+v\nwant %+v", a, want)
	}
	if a := lookup(t, db, "198.51.100.1"); !a.Anycast || a.Country != "US" || a.Network != netip.MustParsePrefix("198.51.100.0/25") {
		t.Errorf("anycast = %+v", a)
	}
	if a := lookup(t, db, "198.51.100.200"); a.Found || a.Anycast {
		t.Errorf("outside anycast = %+v", a)
	}
	if a := lookup(t, db, "2001:db8::5"); a.RepresentedCountry != "US" || a.RepresentedType != "military" || a.HasLocation {
		t.Errorf("represented = %+v", a)
	}
	if a := lookup(t, db, "203.0.113.9"); !a.Found || a.Country != "" || a.RegisteredCountry != "" {
		t.Errorf("missing country = %+v", a)
	}
}

// A record that holds only Enterprise fields (none of which the City decode reads) is a record: Found.
func TestEnterpriseOnlyRecordIsFound(t *testing.T) {
	t.Parallel()
	path := writeDB(t, mmdbwriter.Options{DatabaseType: "GeoIP2-Enterprise", Description: map[string]string{"en": "enterprise"}},
		map[string]mmdbtype.Map{
			"192.0.2.0/24": {"traits": mmdbtype.Map{"isp": mmdbtype.String("Telenor Norge AS"), "connection_type": mmdbtype.String("Corporate")}},
		})
	db := mustOpen(t, path)
	if a := lookup(t, db, "192.0.2.10"); !a.Found || a.Country != "" || a.Network != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("enterprise-only record = %+v, want Found without a country", a)
	}
	if a := lookup(t, db, "198.51.100.1"); a.Found {
		t.Errorf("address without a record = %+v, want not Found", a)
	}
}

func TestGeneratedCountryCodeDatabase(t *testing.T) {
	t.Parallel()
	// The shape of geo-whois-asn-country: only country_code and no description.
	path := writeDB(t, mmdbwriter.Options{DatabaseType: "country ipvAll", BuildEpoch: 1700000000}, map[string]mmdbtype.Map{
		"192.0.2.0/24":  {"country_code": mmdbtype.String("NO")},
		"2001:db8::/48": {"country_code": mmdbtype.String("IE")},
	})
	db := mustOpen(t, path)
	if a := lookup(t, db, "192.0.2.1"); !a.Found || a.Country != "NO" || a.Network != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("v4 = %+v", a)
	}
	if a := lookup(t, db, "2001:db8::1"); a.Country != "IE" {
		t.Errorf("v6 = %+v", a)
	}
	if a := lookup(t, db, "198.51.100.1"); a.Found {
		t.Errorf("unknown = %+v", a)
	}

	// An IPv4-only database has no answer for IPv6 addresses; that is not an error.
	v4only := writeDB(t, mmdbwriter.Options{DatabaseType: "v4-only", IPVersion: 4, Description: map[string]string{"en": "v4"}},
		map[string]mmdbtype.Map{"192.0.2.0/24": {"country_code": mmdbtype.String("SE")}})
	db4 := mustOpen(t, v4only)
	if a := lookup(t, db4, "192.0.2.9"); a.Country != "SE" {
		t.Errorf("v4-only v4 = %+v", a)
	}
	if a := lookup(t, db4, "2001:db8::1"); a.Found {
		t.Errorf("v4-only v6 = %+v", a)
	}

	// A database of some other record shape is refused, naming the file and type.
	other := writeDB(t, mmdbwriter.Options{DatabaseType: "Something-Else", Description: map[string]string{"en": "x"}},
		map[string]mmdbtype.Map{"192.0.2.0/24": {"asn": mmdbtype.Uint32(64500)}})
	if _, err := Open(other); err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "Something-Else") {
		t.Errorf("Open(other) = %v", err)
	}
}

// The default is refreshed only through default/update.sh; keep the attribution files beside it.
func TestDefaultAttributionFilesPresent(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"default/VERSION", "default/NRO_LICENSE", "default/UPSTREAM-README.md", "default/package.json", "default/update.sh", "testdata/LICENSE-APACHE", "testdata/LICENSE-MIT"} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
}
