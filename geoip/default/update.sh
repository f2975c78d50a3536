#!/bin/sh
# update.sh refreshes the embedded offline default GeoIP database from the npm registry.
# It fetches @ip-location-db/geo-whois-asn-country-mmdb with `npm pack` (no other network access),
# keeps the combined IPv4+IPv6 mmdb gzip-compressed (the raw file is ~7.8 MB, gzip -9 about half),
# and records the package version, the mmdb sha256 and the upstream licence notes beside it.
# Usage: sh geoip/default/update.sh [VERSION]   (default: latest)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pkg="@ip-location-db/geo-whois-asn-country-mmdb"
spec="$pkg${1:+@$1}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz)
version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$tmp/package/package.json")
license=$(sed -n 's/.*"license": *"\([^"]*\)".*/\1/p' "$tmp/package/package.json")
gzip -9 -n -c "$tmp/package/geo-whois-asn-country.mmdb" >"$here/geo-whois-asn-country.mmdb.gz"
sha=$(sha256sum "$tmp/package/geo-whois-asn-country.mmdb" | cut -d' ' -f1)
cp "$tmp/package/README.md" "$here/UPSTREAM-README.md"
cp "$tmp/package/NRO_LICENSE" "$here/NRO_LICENSE"
cp "$tmp/package/package.json" "$here/package.json"
cat >"$here/VERSION" <<EOV
package=$pkg
version=$version
license=$license
sha256=$sha
fetched=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOV
echo "updated $pkg $version ($license) sha256=$sha"
