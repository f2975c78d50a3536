package residency

import "net/netip"

// knownAnycast lists public services whose operators document them as anycast. The shipped default GeoIP
// database (geo-whois-asn-country) has no anycast flag and places these prefixes in the country of their
// registrant, so without this list they would pass as located.
var knownAnycast = []struct {
	prefix   netip.Prefix
	operator string
}{
	{netip.MustParsePrefix("1.1.1.0/24"), "Cloudflare public DNS 1.1.1.1"},
	{netip.MustParsePrefix("1.0.0.0/24"), "Cloudflare public DNS 1.0.0.1"},
	{netip.MustParsePrefix("2606:4700:4700::/48"), "Cloudflare public DNS"},
	{netip.MustParsePrefix("8.8.8.0/24"), "Google Public DNS 8.8.8.8"},
	{netip.MustParsePrefix("8.8.4.0/24"), "Google Public DNS 8.8.4.4"},
	{netip.MustParsePrefix("2001:4860:4860::/48"), "Google Public DNS"},
	{netip.MustParsePrefix("9.9.9.0/24"), "Quad9 DNS 9.9.9.9"},
	{netip.MustParsePrefix("149.112.112.0/24"), "Quad9 DNS 149.112.112.112"},
	{netip.MustParsePrefix("2620:fe::/48"), "Quad9 DNS"},
	{netip.MustParsePrefix("208.67.222.0/24"), "Cisco OpenDNS 208.67.222.222"},
	{netip.MustParsePrefix("208.67.220.0/24"), "Cisco OpenDNS 208.67.220.220"},
	{netip.MustParsePrefix("193.0.14.0/23"), "K-root DNS server (RIPE NCC)"},
	{netip.MustParsePrefix("192.36.148.0/24"), "I-root DNS server i.root-servers.net (Netnod)"},
}

// KnownAnycast reports whether addr lies in a documented anycast prefix, and whose.
func KnownAnycast(addr netip.Addr) (string, bool) {
	addr = addr.Unmap()
	for _, k := range knownAnycast {
		if k.prefix.Contains(addr) {
			return k.operator, true
		}
	}
	return "", false
}
