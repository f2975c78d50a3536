package geoip

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"strings"
	"sync"
)

// The default database ships gzip-compressed (about half the size of the raw 7.8 MB mmdb) and is
// inflated once per process. default/update.sh refreshes it from the npm registry.
//
//go:embed default/geo-whois-asn-country.mmdb.gz default/VERSION
var defaultFS embed.FS

// DefaultPath is the Provenance.Path of the embedded default database.
const DefaultPath = "embedded:geo-whois-asn-country.mmdb"

// DefaultAttribution is shown with every answer from the default database: the npm package is
// published as CC0-1.0, and its README credits the RIR data to the NRO under CC BY 4.0.
const DefaultAttribution = "geo-whois-asn-country by sapics/ip-location-db (npm @ip-location-db/geo-whois-asn-country-mmdb), " +
	"CC0-1.0; includes RIR WHOIS/ASN statistics by the Number Resource Organization (nro.net), CC BY 4.0"

var defaultOnce struct {
	sync.Once
	data    []byte
	version string
	sha256  string
	err     error
}

func loadDefault() ([]byte, string, string, error) {
	defaultOnce.Do(func() {
		d := &defaultOnce
		f, err := defaultFS.Open("default/geo-whois-asn-country.mmdb.gz")
		if err != nil {
			d.err = err
			return
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			d.err = err
			return
		}
		if d.data, d.err = io.ReadAll(zr); d.err != nil {
			return
		}
		meta, err := defaultFS.ReadFile("default/VERSION")
		if err != nil {
			d.err = err
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(meta))
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), "=")
			switch k {
			case "version":
				d.version = v
			case "sha256":
				d.sha256 = v
			}
		}
	})
	d := &defaultOnce
	return d.data, d.version, d.sha256, d.err
}

// OpenDefault opens the embedded offline default database (country only: no registered or
// represented country, no anycast flag, no coordinates).
func OpenDefault() (*DB, error) {
	data, version, want, err := loadDefault()
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", DefaultPath, err)
	}
	if want == "" {
		return nil, fmt.Errorf("geoip database %s: default/VERSION has no sha256", DefaultPath)
	}
	return openBytes(data, Provenance{Path: DefaultPath, Attribution: DefaultAttribution, Version: version, Default: true}, want)
}
