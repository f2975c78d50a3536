// Package job runs one audit end to end: probes from the local vantage, data residency with the physics
// check fed by those probes, guest checks, all stored as one audit with its hash chain; then it makes the
// signed PDF reports from what storage holds. It has no CLI concerns, so the scheduled audit service can
// call the same functions.
package job

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/varde/varde"
	"github.com/varde/varde/storage"
)

// Config is an audit.yaml: what to audit and how. Relative paths are relative to the file.
type Config struct {
	Organisation string    `yaml:"organisation" json:"organisation"`
	Kind         string    `yaml:"kind" json:"kind"`     // quarterly (default), ad_hoc, sales_comparison
	Period       string    `yaml:"period" json:"period"` // e.g. 2026-Q4, or empty
	Vantage      string    `yaml:"vantage" json:"vantage"`
	Vantages     []Vantage `yaml:"vantages" json:"vantages"`
	Probes       Probes    `yaml:"probes" json:"probes"`
	Targets      []Target  `yaml:"targets" json:"targets"`
	Inventory    string    `yaml:"inventory" json:"inventory"`
	GeoIPDBs     []string  `yaml:"geoip_db" json:"geoip_db,omitempty"`
	CloudRanges  []string  `yaml:"cloud_ranges" json:"cloud_ranges,omitempty"`
	// RTTFiles are `varde probe --json` outputs measured from other vantages, each named under vantages
	// with its coordinates. Their ICMP minimum RTTs join the audit's own in the residency physics check,
	// so several vantages intersect their discs.
	RTTFiles  []string `yaml:"rtt_files" json:"rtt_files,omitempty"`
	Guest     Guest    `yaml:"guest" json:"guest"`
	Signing   Signing  `yaml:"signing" json:"signing"`
	OutputDir string   `yaml:"output_dir" json:"output_dir"`

	// dir is the directory of the config file, for relative paths; name is the file, for errors.
	dir, name string
}

// Vantage is a place measurements are taken from.
type Vantage struct {
	Name      string  `yaml:"name" json:"name"`
	City      string  `yaml:"city" json:"city"`
	Latitude  float64 `yaml:"latitude" json:"latitude"`
	Longitude float64 `yaml:"longitude" json:"longitude"`
	Network   string  `yaml:"network" json:"network"`
	ASN       int64   `yaml:"asn" json:"asn,omitempty"`
	// Agent: this vantage is measured by its remote agents (`varde agent`), not by this process.
	Agent bool `yaml:"agent" json:"agent,omitempty"`
}

// Probes sets how targets are measured.
type Probes struct {
	ICMP     *bool    `yaml:"icmp" json:"icmp"` // default true
	Count    int      `yaml:"count" json:"count"`
	TCPCount int      `yaml:"tcp_count" json:"tcp_count"`
	Interval Duration `yaml:"interval" json:"interval"`
	Timeout  Duration `yaml:"timeout" json:"timeout"`
	// AgentDeadline is how long remote vantages have to deliver (default 10m).
	AgentDeadline Duration `yaml:"agent_deadline" json:"agent_deadline,omitempty"`
}

// Target is a destination of the latency comparison. With LabRTT set, the target is emulated by the
// latency lab (root only) with that true round-trip time, and Host is filled in from the lab.
type Target struct {
	Name   string   `yaml:"name" json:"name"`
	Label  string   `yaml:"label" json:"label"`
	Host   string   `yaml:"host" json:"host,omitempty"`
	Port   int      `yaml:"port" json:"port"`
	LabRTT Duration `yaml:"lab_rtt" json:"lab_rtt,omitempty"`
	// Ours marks our own data centre in the sales comparison.
	Ours bool `yaml:"ours" json:"ours,omitempty"`
}

// Guest says which machines get the guest tuning checks.
type Guest struct {
	Local     bool     `yaml:"local" json:"local"`
	Snapshots []string `yaml:"snapshots" json:"snapshots,omitempty"`
	IODir     string   `yaml:"io_dir" json:"io_dir,omitempty"`
}

// Signing names the key material. With Init set and the files missing, a CA and signing certificate
// are made in KeysDir (for the demo).
type Signing struct {
	KeysDir  string `yaml:"keys_dir" json:"keys_dir,omitempty"`
	Cert     string `yaml:"cert" json:"cert,omitempty"`
	Key      string `yaml:"key" json:"key,omitempty"`
	CA       string `yaml:"ca" json:"ca,omitempty"`
	Password string `yaml:"password_env" json:"password_env,omitempty"` // name of an env var holding the key password
	Init     bool   `yaml:"init" json:"init,omitempty"`
	TSAURL   string `yaml:"tsa_url" json:"tsa_url,omitempty"`
	// LogKey is the evidence log's Ed25519 note key, a file the database never sees. Default: log.key
	// in keys_dir, or beside cert. With init set, a missing default key is made.
	LogKey string `yaml:"log_key" json:"log_key,omitempty"`
	// Checkpoints is the directory signed checkpoints are written to, each kept so that a later log can
	// be checked against it. Default: checkpoints/ in keys_dir, or beside cert.
	Checkpoints string `yaml:"checkpoints_dir" json:"checkpoints_dir,omitempty"`
}

// keysHome is where the evidence log's files go by default: keys_dir, or the signing certificate's
// directory.
func keysHome(c *Config) string {
	if c.Signing.KeysDir != "" {
		return c.Signing.KeysDir
	}
	if c.Signing.Cert != "" {
		return filepath.Dir(c.Signing.Cert)
	}
	return ""
}

func defaultLogKey(c *Config) string {
	if h := keysHome(c); h != "" {
		return filepath.Join(h, "log.key")
	}
	return ""
}

// Duration reads "20ms", "2s" from YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (like 20ms or 2s)", n.Line, n.Value)
	}
	if v == 0 {
		// Zero means "not given" to the defaults below; written out, it would silently become the default.
		return fmt.Errorf("line %d: %q: a duration of zero is not allowed; leave the field out for its default", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string, so the stored config reads like the file.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// LoadConfig reads and validates an audit.yaml. Errors name the file and, where YAML knows it, the line.
func LoadConfig(path string) (*Config, error) {
	b, err := varde.ReadFile(path, configLimit)
	if err != nil {
		return nil, fmt.Errorf("audit config: %w", err)
	}
	return ParseConfig(path, b)
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

// ParseConfig parses config bytes; name is used in errors and to resolve relative paths.
func ParseConfig(name string, b []byte) (*Config, error) { return ParseConfigWith(name, b, nil) }

// ParseConfigWith is ParseConfig with override applied to the decoded config before it is validated:
// the service puts its own key, output and reference paths over an uploaded config's.
func ParseConfigWith(name string, b []byte, override func(*Config)) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
		var parts []string
		for _, l := range strings.Split(msg, "\n") {
			l = strings.TrimSpace(l)
			if m := yamlLine.FindStringSubmatch(l); m != nil {
				l = name + ":" + m[1] + ": " + strings.Replace(l, m[0], "", 1)
			} else {
				l = name + ": " + l
			}
			parts = append(parts, l)
		}
		return nil, errors.New(strings.Join(parts, "; "))
	}
	c.dir, c.name = filepath.Dir(name), name
	if err := checkInput(name, b, &c); err != nil {
		return nil, err
	}
	if override != nil {
		override(&c)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Audit kinds a Config may name; the storage schema holds the same list.
const (
	KindQuarterly       = storage.KindQuarterly
	KindAdHoc           = storage.KindAdHoc
	KindSalesComparison = storage.KindSalesComparison
)

// setDefaults fills what a config may leave out.
func (c *Config) setDefaults() {
	if c.Kind == "" {
		c.Kind = KindQuarterly
	}
	if c.Probes.ICMP == nil {
		t := true
		c.Probes.ICMP = &t
	}
	if c.Probes.Count == 0 {
		c.Probes.Count = 20
	}
	if c.Probes.TCPCount == 0 {
		c.Probes.TCPCount = 10
	}
	if c.Probes.Interval == 0 {
		c.Probes.Interval = Duration(20 * time.Millisecond)
	}
	if c.Probes.Timeout == 0 {
		c.Probes.Timeout = Duration(2 * time.Second)
	}
	if c.OutputDir == "" {
		c.OutputDir = "out"
	}
	if c.Signing.LogKey == "" {
		c.Signing.LogKey = defaultLogKey(c)
	}
	if c.Signing.Checkpoints == "" {
		if h := keysHome(c); h != "" {
			c.Signing.Checkpoints = filepath.Join(h, "checkpoints")
		}
	}
	if c.Vantage == "" && len(c.Vantages) > 0 {
		c.Vantage = c.Vantages[0].Name
	}
	for i := range c.Targets {
		if c.Targets[i].Label == "" {
			c.Targets[i].Label = c.Targets[i].Name
		}
	}
}

// Validate fills in defaults, then checks the config. Errors name the config file (or "audit config" for
// one built in code) and the field that is wrong. Run calls it, so a Config built in code is checked
// before anything is stored.
func (c *Config) Validate() error {
	c.setDefaults()
	name := c.name
	if name == "" {
		name = "audit config"
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(name+": "+format, a...)) }
	switch c.Kind {
	case KindQuarterly, KindAdHoc, KindSalesComparison:
	default:
		bad("kind %q: want quarterly, ad_hoc or sales_comparison", c.Kind)
	}
	if c.Organisation == "" {
		bad("organisation is required")
	}
	if _, _, err := ParsePeriod(c.Period); err != nil {
		bad("period: %v", err)
	}
	if c.Probes.Count < 0 || c.Probes.TCPCount < 0 {
		bad("probes: counts must not be negative")
	}
	if c.Probes.Interval < 0 || c.Probes.Timeout < 0 {
		bad("probes: interval and timeout must not be negative")
	}
	seen := map[string]bool{}
	for i, v := range c.Vantages {
		if v.Name == "" {
			bad("vantages[%d]: name is required", i)
		}
		if seen[v.Name] {
			bad("vantages[%d]: name %q given twice", i, v.Name)
		}
		seen[v.Name] = true
		if !(v.Latitude >= -90 && v.Latitude <= 90 && v.Longitude >= -180 && v.Longitude <= 180) { // NaN fails too
			bad("vantages[%d] %s: coordinates %.4f, %.4f are out of range", i, v.Name, v.Latitude, v.Longitude)
		}
	}
	if c.Vantage == "" {
		bad("vantage: name the local vantage and describe it under vantages")
	} else if !seen[c.Vantage] {
		bad("vantage %q is not described under vantages", c.Vantage)
	}
	tseen := map[string]bool{}
	for i, t := range c.Targets {
		switch {
		case t.Name == "":
			bad("targets[%d]: name is required", i)
		case tseen[t.Name]:
			bad("targets[%d]: name %q given twice", i, t.Name)
		case t.Host == "" && t.LabRTT == 0:
			bad("targets[%d] %s: give a host, or lab_rtt for a lab target", i, t.Name)
		case t.Port < 0 || t.Port > 65535:
			bad("targets[%d] %s: port %d is out of range 1-65535", i, t.Name, t.Port)
		case t.LabRTT < 0:
			bad("targets[%d] %s: lab_rtt must not be negative", i, t.Name)
		}
		tseen[t.Name] = true
	}
	if c.Signing.Cert == "" && c.Signing.KeysDir == "" {
		bad("signing: give keys_dir (with init: true to create keys) or cert and key")
	} else if c.Signing.Checkpoints == c.Signing.LogKey {
		bad("signing: checkpoints_dir and log_key are the same path %q", c.Signing.LogKey)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// clone copies c deeply enough that Validate's defaults do not write into the caller's slices.
func (c *Config) clone() *Config {
	out := *c
	out.Vantages = slices.Clone(c.Vantages)
	out.Targets = slices.Clone(c.Targets)
	out.GeoIPDBs = slices.Clone(c.GeoIPDBs)
	out.CloudRanges = slices.Clone(c.CloudRanges)
	out.RTTFiles = slices.Clone(c.RTTFiles)
	out.Guest.Snapshots = slices.Clone(c.Guest.Snapshots)
	if c.Probes.ICMP != nil {
		icmp := *c.Probes.ICMP
		out.Probes.ICMP = &icmp
	}
	return &out
}

// paths resolves each of ps relative to the config file.
func (c *Config) paths(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = c.Path(p)
	}
	return out
}

// Path resolves p relative to the config file.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// ParsePeriod reads "2026-Q4", "2026-10" or "2026-10-01..2026-12-31". Empty is no period.
func ParsePeriod(s string) (start, end *time.Time, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil, nil
	}
	var y, q int
	if n, _ := fmt.Sscanf(s, "%d-Q%d", &y, &q); n == 2 && q >= 1 && q <= 4 && len(s) == 7 {
		a := time.Date(y, time.Month(3*(q-1)+1), 1, 0, 0, 0, 0, time.UTC)
		b := a.AddDate(0, 3, -1)
		return &a, &b, nil
	}
	if a, e := time.Parse("2006-01", s); e == nil {
		b := a.AddDate(0, 1, -1)
		return &a, &b, nil
	}
	if from, to, ok := strings.Cut(s, ".."); ok {
		a, e1 := time.Parse(time.DateOnly, from)
		b, e2 := time.Parse(time.DateOnly, to)
		if e1 == nil && e2 == nil && !b.Before(a) {
			return &a, &b, nil
		}
	}
	return nil, nil, fmt.Errorf("%q: want YYYY-Qn, YYYY-MM or YYYY-MM-DD..YYYY-MM-DD", s)
}

// UnmarshalJSON reads the string form MarshalJSON writes.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("duration %s: want a quoted string", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
