package job

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/varde/varde/probes"
)

// checkInput holds an audit.yaml to what must be known at parse time, naming file:line and the field:
// coordinates that are numbers in range (NaN once reached the evidence store's JSON encoder and failed
// there, naming nothing), at least one target (the sales report needs one, and an audit without was
// stored as succeeded before its reports step failed), target hosts that are names or addresses (a
// dotted quad that is not an address must not go to DNS), and probe counts within the sweep limits.
// It runs on the decoded config c with the YAML tree of b for line numbers.
func checkInput(name string, b []byte, c *Config) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		return fmt.Errorf("%s: %w", name, err) // decoding into c succeeded, so this is not expected
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	var errs []string
	bad := func(n *yaml.Node, format string, a ...any) {
		pos := name
		if n != nil {
			pos = fmt.Sprintf("%s:%d", name, n.Line)
		}
		errs = append(errs, pos+": "+fmt.Sprintf(format, a...))
	}

	vantages := field(root, "vantages")
	for i, v := range c.Vantages {
		item := index(vantages, i)
		for _, co := range []struct {
			key   string
			value float64
			max   float64
		}{{"latitude", v.Latitude, 90}, {"longitude", v.Longitude, 180}} {
			if math.IsNaN(co.value) || math.IsInf(co.value, 0) || co.value < -co.max || co.value > co.max {
				n := field(item, co.key)
				bad(n, "vantages[%d] %s: %s %s: want a number from -%g to %g", i, v.Name, co.key, scalar(n, co.value), co.max, co.max)
			}
		}
	}

	targets := field(root, "targets")
	if len(c.Targets) == 0 {
		bad(targets, "targets: the list is empty; give at least one (the sales comparison report compares targets)")
	}
	if len(c.Targets) > probes.MaxTargets {
		bad(targets, "targets: %d targets is over the limit of %d", len(c.Targets), probes.MaxTargets)
	}
	for i, t := range c.Targets {
		if t.Host == "" {
			continue
		}
		hostport := t.Host
		if t.Port > 0 {
			hostport = net.JoinHostPort(strings.Trim(t.Host, "[]"), strconv.Itoa(t.Port))
		}
		if _, err := probes.ParseTarget(hostport); err != nil {
			bad(field(index(targets, i), "host"), "targets[%d] %s: host: %v", i, t.Name, err)
		}
	}

	p := field(root, "probes")
	for _, cnt := range []struct {
		key string
		n   int
	}{{"count", c.Probes.Count}, {"tcp_count", c.Probes.TCPCount}} {
		if cnt.n > probes.MaxCount {
			bad(field(p, cnt.key), "probes: %s %d is over the limit of %d samples per target", cnt.key, cnt.n, probes.MaxCount)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// field returns the value of key in mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// index returns item i of sequence n, or nil.
func index(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

// scalar is the value as written (".nan"), or as decoded when the node is unknown.
func scalar(n *yaml.Node, v float64) string {
	if n != nil && n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
