package cloud

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadAllFixtures(t *testing.T) {
	t.Parallel()
	r, err := LoadAll([]string{"testdata/aws-ip-ranges.json", "testdata/gcp-cloud.json", "testdata/azure-servicetags.json"})
	if err != nil {
		t.Fatal(err)
	}
	src := r.Sources()
	if len(src) != 3 {
		t.Fatalf("sources = %+v", src)
	}
	want := []Source{
		{Provider: "aws", Path: "testdata/aws-ip-ranges.json", Version: "1763900000", Created: "2025-11-23-12-13-20", Prefixes: 12},
		{Provider: "gcp", Path: "testdata/gcp-cloud.json", Version: "1763901234567", Created: "2025-11-23T14:47:14.567048", Prefixes: 6},
		{Provider: "azure", Path: "testdata/azure-servicetags.json", Version: "342", Cloud: "Public", Prefixes: 10},
	}
	for i, w := range want {
		got := src[i]
		if len(got.SHA256) != 64 {
			t.Errorf("source %d sha256 = %q", i, got.SHA256)
		}
		got.SHA256 = ""
		if got != w {
			t.Errorf("source %d = %+v, want %+v", i, got, w)
		}
	}

	for _, tc := range []struct {
		addr                               string
		provider, region, service, country string
		known                              bool
		prefix                             string
	}{
		{"13.48.1.2", "aws", "eu-north-1", "AMAZON,EC2", "SE", true, "13.48.0.0/15"},
		{"52.16.0.1", "aws", "eu-west-1", "AMAZON,EC2", "IE", true, "52.16.0.0/15"},
		{"52.216.0.1", "aws", "us-east-1", "AMAZON,S3", "US", true, "52.216.0.0/15"},
		{"52.216.8.9", "aws", "us-east-1", "S3", "US", true, "52.216.8.0/24"}, // longest prefix wins
		{"3.5.140.1", "aws", "ap-northeast-2", "AMAZON", "KR", true, "3.5.140.0/22"},
		{"15.177.0.1", "aws", "", "ROUTE53_HEALTHCHECKS", "", false, "15.177.0.0/18"},
		{"99.77.130.1", "aws", "xx-newregion-9", "AMAZON", "", false, "99.77.128.0/18"},
		{"2a05:d016::1", "aws", "eu-north-1", "AMAZON", "SE", true, "2a05:d016::/36"},
		{"34.88.1.1", "gcp", "europe-north1", "Google Cloud", "FI", true, "34.88.0.0/16"},
		{"34.51.0.1", "gcp", "europe-north2", "Google Cloud", "SE", true, "34.51.0.0/17"},
		{"34.160.0.1", "gcp", "", "Google Cloud", "", false, "34.160.0.0/16"},
		{"2600:1900:4150::1", "gcp", "europe-north1", "Google Cloud", "FI", true, "2600:1900:4150::/44"},
		{"51.120.0.1", "azure", "norwayeast", "AzureCloud.norwayeast", "NO", true, "51.120.0.0/17"},
		{"51.120.200.1", "azure", "norwaywest", "AzureCloud.norwaywest", "NO", true, "51.120.128.0/17"},
		{"20.100.0.5", "azure", "norwayeast", "Storage.NorwayEast", "NO", true, "20.100.0.0/24"},
		{"20.100.9.5", "azure", "norwayeast", "AzureCloud.norwayeast", "NO", true, "20.100.0.0/16"}, // regional beats global AzureCloud
		{"20.91.1.1", "azure", "swedencentral", "AzureCloud.swedencentral", "SE", true, "20.91.0.0/16"},
		{"2603:1020:e01::1", "azure", "norwayeast", "AzureCloud.norwayeast", "NO", true, "2603:1020:e00::/47"},
		{"::ffff:13.48.0.1", "aws", "eu-north-1", "AMAZON,EC2", "SE", true, "13.48.0.0/15"},
	} {
		m, ok := r.Lookup(netip.MustParseAddr(tc.addr))
		if !ok {
			t.Errorf("%s: no match", tc.addr)
			continue
		}
		if m.Provider != tc.provider || m.Region != tc.region || m.Service != tc.service || m.Country != tc.country ||
			m.CountryKnown != tc.known || m.Prefix != netip.MustParsePrefix(tc.prefix) || m.Source.Provider != tc.provider {
			t.Errorf("%s = %+v", tc.addr, m)
		}
	}
	for _, miss := range []string{"8.8.8.8", "10.0.0.1", "2001:db8::1"} {
		if m, ok := r.Lookup(netip.MustParseAddr(miss)); ok {
			t.Errorf("%s matched %+v", miss, m)
		}
	}
}

func TestRegionCountry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ provider, region, want string }{
		{"aws", "eu-north-1", "SE"}, {"aws", "us-east-1", "US"}, {"aws", "eu-west-2", "GB"}, {"aws", "eu-central-1", "DE"},
		{"gcp", "europe-north1", "FI"}, {"gcp", "europe-west3", "DE"}, {"gcp", "europe-west1", "BE"},
		{"azure", "norwayeast", "NO"}, {"azure", "norwaywest", "NO"}, {"azure", "westeurope", "NL"}, {"azure", "northeurope", "IE"},
	} {
		if got, ok := RegionCountry(tc.provider, tc.region); !ok || got != tc.want {
			t.Errorf("RegionCountry(%s, %s) = %q, %v", tc.provider, tc.region, got, ok)
		}
	}
	for _, tc := range [][2]string{{"aws", "GLOBAL"}, {"gcp", "global"}, {"azure", ""}, {"azure", "marsnorth"}, {"other", "eu-north-1"}} {
		if got, ok := RegionCountry(tc[0], tc[1]); ok || got != "" {
			t.Errorf("RegionCountry(%s, %s) = %q, %v; want unknown", tc[0], tc[1], got, ok)
		}
	}
	// Every country in the table is an ISO alpha-2 code.
	for p, m := range regionCountry {
		for region, c := range m {
			if len(c) != 2 || strings.ToUpper(c) != c {
				t.Errorf("%s %s -> %q", p, region, c)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.json"), "no such file"},
		{write("syntax.json", "{\n  \"syncToken\": \"1\",\n  \"createDate\": x\n}"), "syntax.json:3: invalid JSON"},
		{write("unknown.json", `{"foo": 1}`), "not an AWS ip-ranges.json"},
		{write("array.json", `[1,2]`), "not a cloud ranges file"},
		{write("badprefix.json", "{\"syncToken\":\"1\",\"createDate\":\"d\",\n\"prefixes\":[\n{\"ip_prefix\":\"13.48.0.0/99\",\"region\":\"eu-north-1\",\"service\":\"EC2\"}]}"),
			"badprefix.json:3: prefixes[0]: bad prefix \"13.48.0.0/99\""},
		{write("v6inv4.json", `{"syncToken":"1","createDate":"d","prefixes":[{"ip_prefix":"2001:db8::/32","region":"x","service":"EC2"}]}`), "is not IPv4"},
		{write("empty.json", `{"syncToken":"1","createDate":"d","prefixes":[]}`), "lists no prefixes"},
		{write("notoken.json", `{"syncToken":"","creationTime":"t","prefixes":[{"ipv4Prefix":"34.88.0.0/16","scope":"europe-north1"}]}`), "empty syncToken"},
		{write("gcpnone.json", `{"syncToken":"1","creationTime":"t","prefixes":[{"scope":"europe-north1"}]}`), "neither ipv4Prefix nor ipv6Prefix"},
		{write("azchange.json", `{"changeNumber":"abc","cloud":"Public","values":[]}`), "changeNumber"},
		{write("azbad.json", `{"changeNumber":1,"cloud":"Public","values":[{"name":"X","properties":{"region":"norwayeast","addressPrefixes":["nope"]}}]}`),
			"values[0].properties.addressPrefixes[0]: bad prefix"},
	} {
		_, err := Load(tc.path)
		if err == nil {
			t.Errorf("Load(%s) succeeded", tc.path)
			continue
		}
		if !strings.Contains(err.Error(), tc.path) && !strings.Contains(err.Error(), filepath.Base(tc.path)) {
			t.Errorf("Load(%s) error does not name the file: %v", tc.path, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
}
