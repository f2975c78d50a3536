package probes

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Target is what a probe measures: a host name or address literal and an optional port.
type Target struct {
	// Raw is the target as written, used to name it in results.
	Raw string
	// Host is a DNS name or an IP literal (IPv6 without brackets).
	Host string
	// Port is the TCP port given with the target (host:port), 0 when none was given.
	Port uint16
}

// ParseTarget parses "host", "host:port", an IPv4 literal, an IPv6 literal ("2001:db8::1") or a bracketed
// IPv6 literal with port ("[2001:db8::1]:443").
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}, errors.New("empty target")
	}
	if strings.ContainsAny(s, " \t/") {
		return Target{}, fmt.Errorf("target %q: contains whitespace or '/'", s)
	}
	t := Target{Raw: s, Host: s}
	// A bare IPv6 literal has several colons and no brackets.
	if a, err := netip.ParseAddr(s); err == nil {
		t.Host = a.String()
		if a.Zone() != "" {
			t.Host = s
		}
		return t, nil
	}
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			return Target{}, fmt.Errorf("target %q: %w", s, err)
		}
		p, err := ParsePort(port)
		if err != nil {
			return Target{}, fmt.Errorf("target %q: %w", s, err)
		}
		if strings.HasPrefix(s, "[") {
			if _, err := netip.ParseAddr(host); err != nil {
				return Target{}, fmt.Errorf("target %q: %q in brackets is not an IPv6 address", s, host)
			}
		}
		t.Host, t.Port = host, p
	} else if strings.Contains(s, ":") {
		return Target{}, fmt.Errorf("target %q: not a host, host:port or IP address", s)
	}
	if err := checkHostname(t.Host); err != nil {
		return Target{}, fmt.Errorf("target %q: %w", s, err)
	}
	return t, nil
}

// ParsePort parses a TCP port 1-65535.
func ParsePort(s string) (uint16, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range 1-65535", n)
	}
	return uint16(n), nil
}

// checkHostname accepts IP literals and names made of DNS labels (letters, digits, '-', '_', '.').
func checkHostname(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if len(h) > 253 {
		return errors.New("host name longer than 253 characters")
	}
	if numericTLD(h) {
		// 300.1.1.1 is a mistyped address, not a name: no top-level domain is all digits (RFC 3696 §2),
		// and the system resolver might read it as an address in some other way.
		return errors.New("not a valid IP address, and a host name cannot end in an all-digit label")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host %q has an empty or over-long label", h)
		}
		for _, c := range label {
			ok := c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
			if !ok {
				return fmt.Errorf("host %q: invalid character %q", h, c)
			}
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q: label %q starts or ends with '-'", h, label)
		}
	}
	return nil
}

// ParseTargets reads one target per line. Blank lines and everything after '#' are ignored. name names the
// input (a file name or "-") in errors, which carry name:line.
func ParseTargets(r io.Reader, name string) ([]Target, error) {
	var out []Target
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		t, err := ParseTarget(s)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if len(out) == MaxTargets {
			return nil, fmt.Errorf("%s:%d: more than %d targets, the limit per sweep", name, line, MaxTargets)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than 1 MiB: %w", name, line+1, err)
		}
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return out, nil
}

// numericTLD reports whether the last label of host name h is all digits, as in a mistyped IPv4 address.
func numericTLD(h string) bool {
	h = strings.TrimSuffix(h, ".")
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last == "" {
		return false
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
