package residency

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/varde/varde"
)

// DataCategory is the kind of personal data a store holds.
type DataCategory string

const (
	Ordinary DataCategory = "ordinary"
	// Special is a special category under GDPR Art. 9 (health, biometrics, religion, ...).
	Special DataCategory = "special"
)

// Role is the organisation's role for the store's processing.
type Role string

const (
	Controller Role = "controller"
	Processor  Role = "processor"
)

// MechanismType is a declared GDPR Chapter V transfer basis.
type MechanismType string

const (
	MechanismNone       MechanismType = ""
	MechanismAdequacy   MechanismType = "adequacy"   // Art. 45
	MechanismSCCs       MechanismType = "sccs"       // Art. 46(2)(c), Decision 2021/914
	MechanismBCRs       MechanismType = "bcrs"       // Art. 47
	MechanismDerogation MechanismType = "derogation" // Art. 49
)

// Article is the GDPR article a mechanism rests on.
func (m MechanismType) Article() string {
	switch m {
	case MechanismAdequacy:
		return "GDPR Art. 45"
	case MechanismSCCs:
		return "GDPR Art. 46(2)(c)"
	case MechanismBCRs:
		return "GDPR Art. 47"
	case MechanismDerogation:
		return "GDPR Art. 49(1)"
	}
	return ""
}

// Mechanism is what the inventory declares for a store's transfers.
type Mechanism struct {
	Type      MechanismType `json:"type"`
	Reference string        `json:"reference"` // e.g. the SCC contract ID, the DPF listing, the BCR approval
	// Coverage says how the recipient falls within a partial adequacy decision's scope (e.g. "commercial
	// organisation subject to PIPEDA"); required to rely on a scoped decision.
	Coverage string `json:"coverage,omitempty"`
	// CheckedOn is when the DPF participant listing (or other certification) was last checked; a DPF
	// declaration goes stale after Policy.DPFMaxAgeDays.
	CheckedOn time.Time `json:"checked_on,omitzero"`
	// Occasional marks an Art. 49 derogation as occasional, which the DPO must have assessed and documented
	// (EDPB Guidelines 2/2018); a standing store without it cannot rest on a derogation.
	Occasional bool `json:"occasional,omitempty"`
}

// Store is one data store of the inventory.
type Store struct {
	Name     string
	Location string   // host or URL as written
	Hosts    []string // hosts or IP literals extracted from Location (a Postgres URL may list several)
	Kind     string
	Purpose  string
	Category DataCategory
	Role     Role
	// Mechanism is the declared transfer basis; Type is MechanismNone when none is declared.
	Mechanism Mechanism
	// Recipient optionally names an international organisation the data goes to (e.g. "EPO"), which GeoIP
	// cannot see.
	Recipient string
	Pos       string // file:line of the store's entry
}

// Inventory is a parsed inventory file.
type Inventory struct {
	Path   string
	Policy Policy // as written, defaults not yet filled in
	Stores []Store
}

// LoadInventory reads and validates an inventory file.
func LoadInventory(path string) (*Inventory, error) {
	b, err := varde.ReadFile(path, inventoryLimit)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return ParseInventory(path, b)
}

// ParseInventory parses inventory YAML; name is used in error messages (file:line: ...).
func ParseInventory(name string, data []byte) (*Inventory, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty inventory", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err) // yaml.v3 errors carry "line N"
	}
	p := parser{file: name}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	fields, err := p.mapping(root, "inventory", map[string]bool{"version": false, "stores": true, "policy": false})
	if err != nil {
		return nil, err
	}
	if v, ok := fields["version"]; ok {
		if v.Kind != yaml.ScalarNode || v.Value != "1" {
			return nil, p.errf(v, "version: only version 1 is known, got %q", v.Value)
		}
	}
	stores := fields["stores"]
	if stores.Kind != yaml.SequenceNode {
		return nil, p.errf(stores, "stores: want a list of data stores")
	}
	if len(stores.Content) == 0 {
		return nil, p.errf(stores, "stores: the list is empty")
	}
	inv := &Inventory{Path: name}
	if pn, ok := fields["policy"]; ok {
		if inv.Policy, err = p.policy(pn); err != nil {
			return nil, err
		}
	}
	seen := map[string]string{}
	for _, n := range stores.Content {
		s, err := p.store(n)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[s.Name]; dup {
			return nil, p.errf(n, "store %q: name already used at %s", s.Name, prev)
		}
		seen[s.Name] = s.Pos
		inv.Stores = append(inv.Stores, s)
	}
	return inv, nil
}

type parser struct{ file string }

func (p parser) pos(n *yaml.Node) string { return fmt.Sprintf("%s:%d", p.file, n.Line) }

func (p parser) errf(n *yaml.Node, format string, a ...any) error {
	return fmt.Errorf("%s: %s", p.pos(n), fmt.Sprintf(format, a...))
}

// mapping checks that n is a mapping whose keys are all in allowed (true = required) and returns the values.
func (p parser) mapping(n *yaml.Node, what string, allowed map[string]bool) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "%s: want a mapping", what)
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, ok := allowed[k.Value]; !ok {
			known := make([]string, 0, len(allowed))
			for a := range allowed {
				known = append(known, a)
			}
			slices.Sort(known)
			return nil, p.errf(k, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(known, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, p.errf(k, "%s: field %q given twice", what, k.Value)
		}
		out[k.Value] = v
	}
	for a, req := range allowed {
		if _, ok := out[a]; req && !ok {
			return nil, p.errf(n, "%s: missing required field %q", what, a)
		}
	}
	return out, nil
}

func (p parser) str(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errf(n, "%s: want a string", what)
	}
	v := strings.TrimSpace(n.Value)
	if v == "" {
		return "", p.errf(n, "%s: empty", what)
	}
	return v, nil
}

func (p parser) policy(n *yaml.Node) (Policy, error) {
	f, err := p.mapping(n, "policy", map[string]bool{"dpf_max_age_days": false, "geoip_max_age_days": false,
		"eea_pending": false, "svalbard_jan_mayen": false})
	if err != nil {
		return Policy{}, err
	}
	var pol Policy
	days := func(key string, dst *int) error {
		v, ok := f[key]
		if !ok {
			return nil
		}
		d, err := strconv.Atoi(v.Value)
		if err != nil || d <= 0 {
			return p.errf(v, "policy %s %q: want a positive number of days", key, v.Value)
		}
		*dst = d
		return nil
	}
	if err := days("dpf_max_age_days", &pol.DPFMaxAgeDays); err != nil {
		return Policy{}, err
	}
	if err := days("geoip_max_age_days", &pol.GeoIPMaxAgeDays); err != nil {
		return Policy{}, err
	}
	if v, ok := f["eea_pending"]; ok {
		pol.EEAPending = EEAPendingPolicy(v.Value)
	}
	if v, ok := f["svalbard_jan_mayen"]; ok {
		pol.SvalbardJanMayen = SJPolicy(v.Value)
	}
	if err := pol.Validate(); err != nil {
		return Policy{}, p.errf(n, "%v", err)
	}
	return pol, nil
}

func (p parser) store(n *yaml.Node) (Store, error) {
	f, err := p.mapping(n, "store", map[string]bool{
		"name": true, "host": false, "url": false, "kind": true, "purpose": true,
		"data_category": true, "role": true, "transfer_mechanism": false, "recipient": false,
	})
	if err != nil {
		return Store{}, err
	}
	s := Store{Pos: p.pos(n)}
	if s.Name, err = p.str(f["name"], "store name"); err != nil {
		return Store{}, err
	}
	what := fmt.Sprintf("store %q", s.Name)
	hostN, urlN := f["host"], f["url"]
	switch {
	case hostN != nil && urlN != nil:
		return Store{}, p.errf(urlN, "%s: give host or url, not both", what)
	case hostN == nil && urlN == nil:
		return Store{}, p.errf(n, "%s: missing host or url", what)
	}
	locN := hostN
	if locN == nil {
		locN = urlN
	}
	loc, err := p.str(locN, what+": host/url")
	if err != nil {
		return Store{}, err
	}
	// Only the redacted form is kept: the location goes into evidence rows that can never be deleted, into
	// error messages and into the PDF.
	s.Location = RedactLocation(loc)
	if s.Hosts, err = ExtractHosts(loc); err != nil {
		return Store{}, p.errf(locN, "%s: %v", what, redactErr(err, loc, s.Location))
	}
	if s.Kind, err = p.str(f["kind"], what+": kind"); err != nil {
		return Store{}, err
	}
	if s.Purpose, err = p.str(f["purpose"], what+": purpose"); err != nil {
		return Store{}, err
	}
	cat, err := p.str(f["data_category"], what+": data_category")
	if err != nil {
		return Store{}, err
	}
	switch DataCategory(cat) {
	case Ordinary, Special:
		s.Category = DataCategory(cat)
	default:
		return Store{}, p.errf(f["data_category"], "%s: data_category %q: want ordinary or special (GDPR Art. 9)", what, cat)
	}
	role, err := p.str(f["role"], what+": role")
	if err != nil {
		return Store{}, err
	}
	switch Role(role) {
	case Controller, Processor:
		s.Role = Role(role)
	default:
		return Store{}, p.errf(f["role"], "%s: role %q: want controller or processor", what, role)
	}
	if r, ok := f["recipient"]; ok {
		if s.Recipient, err = p.str(r, what+": recipient"); err != nil {
			return Store{}, err
		}
		if _, known := orgIDs()[s.Recipient]; !known {
			return Store{}, p.errf(r, "%s: recipient %q: not an international organisation in the rules table (known: %s)",
				what, s.Recipient, strings.Join(sortedKeys(orgIDs()), ", "))
		}
	}
	if m, ok := f["transfer_mechanism"]; ok {
		mf, err := p.mapping(m, what+": transfer_mechanism", map[string]bool{"type": true, "reference": false,
			"coverage": false, "checked_on": false, "occasional": false})
		if err != nil {
			return Store{}, err
		}
		t, err := p.str(mf["type"], what+": transfer_mechanism type")
		if err != nil {
			return Store{}, err
		}
		switch MechanismType(t) {
		case MechanismAdequacy, MechanismSCCs, MechanismBCRs, MechanismDerogation:
			s.Mechanism.Type = MechanismType(t)
		case "none":
		default:
			return Store{}, p.errf(mf["type"], "%s: transfer_mechanism type %q: want none, adequacy, sccs, bcrs or derogation", what, t)
		}
		if r, ok := mf["reference"]; ok {
			if s.Mechanism.Reference, err = p.str(r, what+": transfer_mechanism reference"); err != nil {
				return Store{}, err
			}
		}
		if c, ok := mf["coverage"]; ok {
			if s.Mechanism.Coverage, err = p.str(c, what+": transfer_mechanism coverage"); err != nil {
				return Store{}, err
			}
		}
		if c, ok := mf["checked_on"]; ok {
			v, err := p.str(c, what+": transfer_mechanism checked_on")
			if err != nil {
				return Store{}, err
			}
			if s.Mechanism.CheckedOn, err = parseDay(v); err != nil {
				return Store{}, p.errf(c, "%s: transfer_mechanism checked_on %q: want YYYY-MM-DD", what, v)
			}
		}
		if o, ok := mf["occasional"]; ok {
			switch o.Value {
			case "true":
				s.Mechanism.Occasional = true
			case "false":
			default:
				return Store{}, p.errf(o, "%s: transfer_mechanism occasional %q: want true or false", what, o.Value)
			}
			if s.Mechanism.Type != MechanismDerogation {
				return Store{}, p.errf(o, "%s: transfer_mechanism occasional applies to type derogation (GDPR Art. 49) only", what)
			}
		}
		if s.Mechanism.Type != MechanismNone && s.Mechanism.Reference == "" {
			return Store{}, p.errf(m, "%s: transfer_mechanism %s needs a reference (contract, listing or approval)", what, t)
		}
	}
	return s, nil
}

// ExtractHosts returns the host names or IP literals of a data store location: a URL (postgres://, mysql://,
// https:// bucket endpoint, ...; a Postgres URL may list several host:port pairs), host:port, [v6]:port, or a
// plain host or IP.
func ExtractHosts(loc string) ([]string, error) {
	if strings.Contains(loc, "://") {
		u, err := url.Parse(loc)
		if err != nil {
			// url.Parse rejects multi-host Postgres URLs with ports; take the authority by hand.
			_, rest, _ := strings.Cut(loc, "://")
			authority := rest
			if i := strings.IndexAny(rest, "/?#"); i >= 0 {
				authority = rest[:i]
			}
			if at := strings.LastIndex(authority, "@"); at >= 0 {
				authority = authority[at+1:]
			}
			return splitHostList(loc, authority)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("URL %q has no host", loc)
		}
		return splitHostList(loc, u.Host)
	}
	h, err := oneHost(loc)
	if err != nil {
		return nil, err
	}
	return []string{h}, nil
}

func splitHostList(loc, authority string) ([]string, error) {
	var hosts []string
	for part := range strings.SplitSeq(authority, ",") {
		h, err := oneHost(part)
		if err != nil {
			return nil, fmt.Errorf("URL %q: %w", loc, err)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// oneHost strips a port and brackets and checks what is left is an IP literal or a DNS name.
func oneHost(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty host")
	}
	// "[::1" is a typo, not ::1: brackets come as one pair, around an IPv6 literal at the start.
	if open, close := strings.Count(s, "["), strings.Count(s, "]"); open != close || open > 1 ||
		(open == 1 && (s[0] != '[' || strings.Index(s, "]") < 2)) {
		return "", fmt.Errorf("host %q: unbalanced brackets (an IPv6 literal is written [2001:db8::1])", s)
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap().String(), nil
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
		if a, err := netip.ParseAddr(s); err == nil {
			return a.Unmap().String(), nil
		}
	}
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if len(s) > 253 {
		return "", fmt.Errorf("host %q: longer than 253 characters", s)
	}
	// 300.1.1.1 is a mistyped address, not a name to look up: no top-level domain is all digits.
	if last := s[strings.LastIndexByte(s, '.')+1:]; last != "" && strings.Trim(last, "0123456789") == "" {
		return "", fmt.Errorf("host %q: not a valid IP address, and a name cannot end in an all-digit label", s)
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("host %q: bad DNS label", s)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return "", fmt.Errorf("host %q: character %q is not allowed in a host name", s, r)
			}
		}
	}
	return s, nil
}

func orgIDs() map[string]bool {
	m := map[string]bool{}
	for _, a := range adequacyTable {
		if a.InternationalOrganisation {
			m[a.ID] = true
		}
	}
	return m
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// secretParams are query parameter names whose values are credentials, compared case-insensitively after
// removing "-" and "_".
var secretParams = []string{"password", "passwd", "pass", "pwd", "secret", "token", "accesstoken", "apikey",
	"key", "accesskey", "secretkey", "sslpassword", "sslkey", "auth", "authorization", "credential",
	"credentials", "signature", "sig", "xamzsignature", "xamzcredential", "xamzsecuritytoken", "sessiontoken"}

// Redacted replaces a credential in a redacted location.
const Redacted = "REDACTED"

// RedactLocation returns the location with credentials removed: URL userinfo (user:password@) and the
// values of query parameters that carry secrets (password=, token=, ...). Host, port, path and other
// parameters stay, so the location still identifies the store. It works on text, because multi-host
// Postgres URLs do not parse as URLs.
func RedactLocation(loc string) string {
	scheme, rest, ok := strings.Cut(loc, "://")
	if !ok {
		return loc
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		authority = Redacted + "@" + authority[at+1:]
	}
	path, query, hasQuery := strings.Cut(tail, "?")
	if !hasQuery {
		return scheme + "://" + authority + tail
	}
	query, frag, hasFrag := strings.Cut(query, "#")
	parts := strings.Split(query, "&")
	for i, kv := range parts {
		k, _, _ := strings.Cut(kv, "=")
		name := strings.ToLower(k)
		if u, err := url.QueryUnescape(name); err == nil {
			name = u
		}
		name = strings.NewReplacer("-", "", "_", "").Replace(name)
		if slices.Contains(secretParams, name) {
			parts[i] = k + "=" + Redacted
		}
	}
	out := scheme + "://" + authority + path + "?" + strings.Join(parts, "&")
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// redactErr rewrites an error that quotes the raw location so that it quotes the redacted one instead.
func redactErr(err error, raw, redacted string) error {
	msg := err.Error()
	if raw == redacted || !strings.Contains(msg, raw) {
		return err
	}
	return errors.New(strings.ReplaceAll(msg, raw, redacted))
}
