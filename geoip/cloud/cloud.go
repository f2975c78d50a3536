// Package cloud reads the published IP ranges of cloud providers (AWS ip-ranges.json, Google
// cloud.json, Azure service tags) from files and says which provider region, and so which
// country, an address belongs to. It is a second witness next to GeoIP; it never fetches the
// files itself, so an audit records exactly which version (syncToken, changeNumber) it used.
package cloud

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/varde/varde"
)

// Providers.
const (
	ProviderAWS   = "aws"
	ProviderGCP   = "gcp"
	ProviderAzure = "azure"
)

// Source describes one loaded provider file.
type Source struct {
	Provider string
	Path     string
	SHA256   string
	// Version is AWS/GCP syncToken or Azure changeNumber.
	Version string
	// Created is AWS createDate or GCP creationTime, verbatim; empty for Azure.
	Created string
	// Cloud is Azure's "cloud" field (e.g. "Public").
	Cloud string
	// Prefixes is how many prefixes the file contributed.
	Prefixes int
}

// Match is the most specific published range containing an address.
type Match struct {
	Provider string
	Region   string // "" for global ranges
	// Service is the AWS service(s), GCP service or Azure service-tag name; several AWS services
	// publishing the same prefix are joined with ",".
	Service string
	// Country is the ISO alpha-2 country of Region; "" with CountryKnown false when the region is
	// global or not in the region table.
	Country      string
	CountryKnown bool
	Prefix       netip.Prefix
	Source       Source
}

type entry struct {
	region   string
	services []string
	src      int // index into Ranges.sources
}

// Ranges is a longest-prefix table over one or more provider files.
type Ranges struct {
	sources []Source
	table   map[netip.Prefix]*entry
	// byLen maps prefix length to the masked prefixes of that length; a lookup probes from the
	// longest length down, at most 33 or 129 map probes, which is plenty for an audit.
	byLen4, byLen6 map[int]map[netip.Prefix]*entry
	maxV4, maxV6   int
}

// Load parses one provider file, detecting AWS, Google or Azure format from its keys.
func Load(path string) (*Ranges, error) {
	return LoadAll([]string{path})
}

// LoadAll merges several provider files into one table.
func LoadAll(paths []string) (*Ranges, error) {
	r := &Ranges{table: map[netip.Prefix]*entry{}}
	for _, p := range paths {
		if err := r.load(p); err != nil {
			return nil, err
		}
	}
	r.index()
	return r, nil
}

// Sources lists the loaded files with their version fields.
func (r *Ranges) Sources() []Source { return append([]Source(nil), r.sources...) }

// Lookup returns the most specific range containing addr.
func (r *Ranges) Lookup(addr netip.Addr) (Match, bool) {
	addr = addr.Unmap()
	byLen, max := r.byLen4, r.maxV4
	if addr.Is6() {
		byLen, max = r.byLen6, r.maxV6
	}
	for bits := max; bits >= 0; bits-- {
		m := byLen[bits]
		if m == nil {
			continue
		}
		p, err := addr.Prefix(bits)
		if err != nil {
			continue
		}
		if e, ok := m[p]; ok {
			src := r.sources[e.src]
			c, known := RegionCountry(src.Provider, e.region)
			return Match{
				Provider: src.Provider, Region: e.region, Service: strings.Join(e.services, ","),
				Country: c, CountryKnown: known, Prefix: p, Source: src,
			}, true
		}
	}
	return Match{}, false
}

func (r *Ranges) index() {
	r.byLen4, r.byLen6 = map[int]map[netip.Prefix]*entry{}, map[int]map[netip.Prefix]*entry{}
	for p, e := range r.table {
		byLen := r.byLen4
		if p.Addr().Is6() {
			byLen = r.byLen6
			r.maxV6 = max(r.maxV6, p.Bits())
		} else {
			r.maxV4 = max(r.maxV4, p.Bits())
		}
		if byLen[p.Bits()] == nil {
			byLen[p.Bits()] = map[netip.Prefix]*entry{}
		}
		byLen[p.Bits()][p] = e
	}
}

// add records one published prefix. The same prefix can appear several times (AWS lists it per
// service; Azure in the global "AzureCloud" tag and in the regional tags): a regional entry wins
// over a global one, and services of the same region are merged.
func (r *Ranges) add(p netip.Prefix, region, service string, src int) {
	p = p.Masked()
	e, ok := r.table[p]
	switch {
	case !ok:
		r.table[p] = &entry{region: region, services: []string{service}, src: src}
		return
	case e.region == "" && region != "":
		*e = entry{region: region, services: []string{service}, src: src}
		return
	case e.region != region && region == "":
		return
	case e.region != region:
		// Two regions claim one prefix: keep the first, but list the other so it is visible.
		service = service + "@" + region
	}
	for _, s := range e.services {
		if s == service {
			return
		}
	}
	e.services = append(e.services, service)
	sort.Strings(e.services)
}

// rangesLimit is several times the largest published file (Azure's service tags, about 10 MiB).
var rangesLimit = varde.Limit{What: "a cloud ranges file", Bytes: 64 << 20}

// fileError names the file and, when the offending text can be found, its line.
func fileError(path string, data []byte, needle string, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	if needle != "" {
		if i := bytes.Index(data, []byte(needle)); i >= 0 {
			return fmt.Errorf("%s:%d: %s", path, bytes.Count(data[:i], []byte("\n"))+1, msg)
		}
	}
	return fmt.Errorf("%s: %s", path, msg)
}

func (r *Ranges) load(path string) error {
	data, err := varde.ReadFile(path, rangesLimit)
	if err != nil {
		return fmt.Errorf("cloud ranges %w", err) // the error starts with path
	}
	return r.parse(path, data)
}

// parse adds the ranges file data, read from path (named in errors).
func (r *Ranges) parse(path string, data []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n")) + 1
			return fmt.Errorf("%s:%d: invalid JSON: %w", path, line, err)
		}
		return fmt.Errorf("%s: not a cloud ranges file: %w", path, err)
	}
	sum := sha256.Sum256(data)
	src := Source{Path: path, SHA256: hex.EncodeToString(sum[:])}
	idx := len(r.sources)
	var n int
	var err error
	switch {
	case probe["values"] != nil && probe["changeNumber"] != nil:
		src.Provider = ProviderAzure
		n, err = r.loadAzure(path, data, &src, idx)
	case probe["syncToken"] != nil && probe["createDate"] != nil:
		src.Provider = ProviderAWS
		n, err = r.loadAWS(path, data, &src, idx)
	case probe["syncToken"] != nil && probe["creationTime"] != nil:
		src.Provider = ProviderGCP
		n, err = r.loadGCP(path, data, &src, idx)
	default:
		return fmt.Errorf("%s: not an AWS ip-ranges.json (syncToken, createDate), Google cloud.json "+
			"(syncToken, creationTime) or Azure service tags file (changeNumber, values)", path)
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %s ranges file lists no prefixes", path, src.Provider)
	}
	src.Prefixes = n
	r.sources = append(r.sources, src)
	return nil
}

func parsePrefix(path string, data []byte, field string, i int, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fileError(path, data, `"`+s+`"`, "%s[%d]: bad prefix %q: %v", field, i, s, err)
	}
	return p, nil
}

func (r *Ranges) loadAWS(path string, data []byte, src *Source, idx int) (int, error) {
	var f struct {
		SyncToken  string `json:"syncToken"`
		CreateDate string `json:"createDate"`
		Prefixes   []struct {
			IPPrefix string `json:"ip_prefix"`
			Region   string `json:"region"`
			Service  string `json:"service"`
		} `json:"prefixes"`
		IPv6Prefixes []struct {
			IPv6Prefix string `json:"ipv6_prefix"`
			Region     string `json:"region"`
			Service    string `json:"service"`
		} `json:"ipv6_prefixes"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return 0, fmt.Errorf("%s: AWS ip-ranges: %w", path, err)
	}
	if f.SyncToken == "" {
		return 0, fmt.Errorf("%s: AWS ip-ranges: empty syncToken", path)
	}
	src.Version, src.Created = f.SyncToken, f.CreateDate
	n := 0
	for i, p := range f.Prefixes {
		pfx, err := parsePrefix(path, data, "prefixes", i, p.IPPrefix)
		if err != nil {
			return 0, err
		}
		if !pfx.Addr().Is4() {
			return 0, fileError(path, data, `"`+p.IPPrefix+`"`, "prefixes[%d]: %s is not IPv4", i, p.IPPrefix)
		}
		r.add(pfx, awsRegion(p.Region), p.Service, idx)
		n++
	}
	for i, p := range f.IPv6Prefixes {
		pfx, err := parsePrefix(path, data, "ipv6_prefixes", i, p.IPv6Prefix)
		if err != nil {
			return 0, err
		}
		r.add(pfx, awsRegion(p.Region), p.Service, idx)
		n++
	}
	return n, nil
}

// awsRegion maps AWS's "GLOBAL" pseudo-region to "" (no single location).
func awsRegion(s string) string {
	if s == "GLOBAL" {
		return ""
	}
	return s
}

func (r *Ranges) loadGCP(path string, data []byte, src *Source, idx int) (int, error) {
	var f struct {
		SyncToken    string `json:"syncToken"`
		CreationTime string `json:"creationTime"`
		Prefixes     []struct {
			IPv4Prefix string `json:"ipv4Prefix"`
			IPv6Prefix string `json:"ipv6Prefix"`
			Service    string `json:"service"`
			Scope      string `json:"scope"`
		} `json:"prefixes"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return 0, fmt.Errorf("%s: Google cloud.json: %w", path, err)
	}
	if f.SyncToken == "" {
		return 0, fmt.Errorf("%s: Google cloud.json: empty syncToken", path)
	}
	src.Version, src.Created = f.SyncToken, f.CreationTime
	for i, p := range f.Prefixes {
		s := p.IPv4Prefix
		if s == "" {
			s = p.IPv6Prefix
		}
		if s == "" {
			return 0, fmt.Errorf("%s: prefixes[%d]: neither ipv4Prefix nor ipv6Prefix", path, i)
		}
		pfx, err := parsePrefix(path, data, "prefixes", i, s)
		if err != nil {
			return 0, err
		}
		region := p.Scope
		if region == "global" {
			region = ""
		}
		r.add(pfx, region, p.Service, idx)
	}
	return len(f.Prefixes), nil
}

func (r *Ranges) loadAzure(path string, data []byte, src *Source, idx int) (int, error) {
	var f struct {
		ChangeNumber json.RawMessage `json:"changeNumber"`
		Cloud        string          `json:"cloud"`
		Values       []struct {
			Name       string `json:"name"`
			Properties struct {
				Region          string   `json:"region"`
				AddressPrefixes []string `json:"addressPrefixes"`
			} `json:"properties"`
		} `json:"values"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return 0, fmt.Errorf("%s: Azure service tags: %w", path, err)
	}
	change := string(f.ChangeNumber)
	if _, err := strconv.ParseInt(change, 10, 64); err != nil {
		return 0, fileError(path, data, `"changeNumber"`, "Azure service tags: changeNumber %s is not an integer", change)
	}
	src.Version, src.Cloud = change, f.Cloud
	n := 0
	for i, v := range f.Values {
		for j, s := range v.Properties.AddressPrefixes {
			pfx, err := parsePrefix(path, data, fmt.Sprintf("values[%d].properties.addressPrefixes", i), j, s)
			if err != nil {
				return 0, err
			}
			r.add(pfx, strings.ToLower(v.Properties.Region), v.Name, idx)
			n++
		}
	}
	return n, nil
}
