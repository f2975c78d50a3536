// Package resolver turns the host of a data store into every address it resolves to (A and AAAA),
// following and recording the CNAME chain and which resolver answered, so each address can be
// located and judged on its own. A host that does not resolve yields a typed *Error (not found
// vs temporary) that the caller turns into an "unknown" finding rather than a crash.
package resolver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/varde/varde"
)

// Config configures a Resolver. The zero value uses the system resolver and /etc/resolv.conf.
type Config struct {
	// Resolver looks up addresses; default net.DefaultResolver. Tests inject one whose Dial
	// points at an in-process DNS server.
	Resolver *net.Resolver
	// Servers ("host:port") are asked directly for the CNAME chain, which net.Resolver does not
	// expose; default: the nameservers in ResolvConf.
	Servers []string
	// ResolvConf is read for Servers when they are not given; default /etc/resolv.conf.
	ResolvConf string
	// Name labels the resolver in Resolution.Resolver; default "go" when Resolver.PreferGo,
	// else "system".
	Name string
	// Timeout bounds one Resolve call; default 5s.
	Timeout time.Duration
	// Static answers names locally before DNS, like an /etc/hosts entry or curl --resolve
	// (for offline audits and tests). Keys are host names (case-insensitive, no trailing dot);
	// such answers say Resolver "static".
	Static map[string][]netip.Addr
	// Logger receives debug notes (e.g. a failed CNAME-chain query); default discards.
	Logger *slog.Logger
}

// Resolver resolves hosts. It is safe for concurrent use.
type Resolver struct {
	cfg   Config
	label string
}

// Resolution is what a host resolved to.
type Resolution struct {
	Host string
	// CNAMEs is the alias chain after Host, in order, without trailing dots; empty when none.
	CNAMEs []string
	// Addrs is every A and AAAA address, unmapped, sorted and deduplicated.
	Addrs []netip.Addr
	// Resolver says which resolver answered, e.g. "go via 10.0.0.2:53 (/etc/resolv.conf)".
	Resolver string
}

// Kind classifies a resolution failure.
type Kind int

const (
	// KindOther is any failure that is neither of the below (e.g. a malformed host name).
	KindOther Kind = iota
	// KindNotFound: the name does not exist or has no A/AAAA records (NXDOMAIN, NODATA).
	KindNotFound
	// KindTemporary: timeout, SERVFAIL, unreachable server; retrying later may succeed.
	KindTemporary
)

func (k Kind) String() string {
	switch k {
	case KindNotFound:
		return "not found"
	case KindTemporary:
		return "temporary failure"
	}
	return "failure"
}

// Sentinels for errors.Is on *Error.
var (
	ErrNotFound  = errors.New("host not found")
	ErrTemporary = errors.New("temporary resolution failure")
)

// Error is a failed resolution, carrying the resolver's own error.
type Error struct {
	Host     string
	Resolver string
	Kind     Kind
	Err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("resolve %s with %s: %s: %v", e.Host, e.Resolver, e.Kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) and errors.Is(err, ErrTemporary) work.
func (e *Error) Is(target error) bool {
	return (target == ErrNotFound && e.Kind == KindNotFound) || (target == ErrTemporary && e.Kind == KindTemporary)
}

// New validates cfg and fills in defaults.
func New(cfg Config) (*Resolver, error) {
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("resolver config: negative timeout %v", cfg.Timeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	static := make(map[string][]netip.Addr, len(cfg.Static))
	for name, as := range cfg.Static {
		key := strings.ToLower(strings.TrimSuffix(name, "."))
		if key == "" || len(as) == 0 {
			return nil, fmt.Errorf("resolver config: static entry %q has no name or no addresses", name)
		}
		for _, a := range as {
			if !a.IsValid() {
				return nil, fmt.Errorf("resolver config: static entry %q has an invalid address", name)
			}
		}
		static[key] = as
	}
	cfg.Static = static
	fromFile := false
	if len(cfg.Servers) == 0 {
		servers, err := readResolvConf(cfg.ResolvConf)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		cfg.Servers, fromFile = servers, true
	}
	for _, s := range cfg.Servers {
		if _, err := netip.ParseAddrPort(s); err != nil {
			return nil, fmt.Errorf("resolver config: server %q: want ip:port: %w", s, err)
		}
	}
	if cfg.Name == "" {
		cfg.Name = "system"
		if cfg.Resolver.PreferGo {
			cfg.Name = "go"
		}
	}
	label := cfg.Name
	if len(cfg.Servers) > 0 {
		label += " via " + strings.Join(cfg.Servers, ",")
		if fromFile {
			label += " (" + cfg.ResolvConf + ")"
		}
	}
	return &Resolver{cfg: cfg, label: label}, nil
}

// readResolvConf returns the nameserver lines of a resolv.conf as ip:53.
func readResolvConf(path string) ([]string, error) {
	// resolv.conf is a few lines; 1 MiB is generous.
	f, err := varde.OpenFile(path, varde.Limit{What: "a resolv.conf", Bytes: 1 << 20})
	if err != nil {
		return nil, fmt.Errorf("resolver config: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		ip, err := netip.ParseAddr(fields[1])
		if err != nil {
			return nil, fmt.Errorf("resolver config: %s:%d: nameserver %q: %w", path, line, fields[1], err)
		}
		out = append(out, netip.AddrPortFrom(ip, 53).String())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("resolver config: %s: %w", path, err)
	}
	return out, nil
}

// Label is what Resolution.Resolver will say.
func (r *Resolver) Label() string { return r.label }

// Resolve resolves host with a Resolver built from the zero Config.
func Resolve(ctx context.Context, host string) (Resolution, error) {
	r, err := New(Config{})
	if err != nil {
		return Resolution{}, err
	}
	return r.Resolve(ctx, host)
}

// Resolve returns every A and AAAA address of host. IP literals (also "[::1]") pass through.
func (r *Resolver) Resolve(ctx context.Context, host string) (Resolution, error) {
	host = strings.TrimSuffix(strings.TrimSpace(host), ".")
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		return Resolution{Host: host, Addrs: []netip.Addr{a.Unmap().WithZone("")}, Resolver: "literal"}, nil
	}
	if host == "" {
		return Resolution{}, &Error{Host: host, Resolver: r.label, Kind: KindOther, Err: errors.New("empty host name")}
	}
	if as, ok := r.cfg.Static[strings.ToLower(host)]; ok {
		res := Resolution{Host: host, Resolver: "static"}
		for _, a := range as {
			res.Addrs = append(res.Addrs, a.Unmap())
		}
		slices.SortFunc(res.Addrs, netip.Addr.Compare)
		res.Addrs = slices.Compact(res.Addrs)
		return res, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()

	addrs, err := r.cfg.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return Resolution{}, &Error{Host: host, Resolver: r.label, Kind: classify(err), Err: err}
	}
	res := Resolution{Host: host, Resolver: r.label}
	for _, a := range addrs {
		res.Addrs = append(res.Addrs, a.Unmap())
	}
	slices.SortFunc(res.Addrs, netip.Addr.Compare)
	res.Addrs = slices.Compact(res.Addrs)
	if len(res.Addrs) == 0 {
		return Resolution{}, &Error{Host: host, Resolver: r.label, Kind: KindNotFound, Err: errors.New("no A or AAAA records")}
	}
	res.CNAMEs = r.chain(ctx, host)
	return res, nil
}

// chain finds the CNAME chain: asked directly from the servers when there are any (the only way
// to see intermediate aliases), else the canonical name net.Resolver reports.
func (r *Resolver) chain(ctx context.Context, host string) []string {
	if len(r.cfg.Servers) > 0 {
		c, err := queryChain(ctx, r.cfg.Servers, host)
		if err == nil {
			return c
		}
		r.cfg.Logger.DebugContext(ctx, "cname chain query failed; using canonical name", "host", host, "err", err)
	}
	// net.Resolver reports one alias per call (which one, for chains, depends on which of its
	// parallel A/AAAA/CNAME answers it reads first), so iterate to the canonical name; an
	// intermediate alias may be skipped, the end of the chain is right.
	var chain []string
	seen := map[string]bool{strings.ToLower(host): true}
	cur := host
	for hop := 0; hop < 16; hop++ {
		cname, err := r.cfg.Resolver.LookupCNAME(ctx, cur)
		if err != nil {
			break
		}
		cname = strings.ToLower(strings.TrimSuffix(cname, "."))
		if cname == "" || seen[cname] {
			break
		}
		seen[cname] = true
		chain = append(chain, cname)
		cur = cname
	}
	return chain
}

func classify(err error) Kind {
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsNotFound:
			return KindNotFound
		case de.IsTimeout, de.IsTemporary:
			return KindTemporary
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTemporary
	}
	return KindOther
}
