package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// zone is the in-process DNS server's data: name -> records. Names are lower case, absolute.
type zone struct {
	cname map[string]string
	a     map[string][]netip.Addr
	// servfail names answer SERVFAIL; silent names get no answer at all.
	servfail, silent map[string]bool
	queries          atomic.Int64
}

func (z *zone) answer(req []byte, udp bool) ([]byte, bool) {
	z.queries.Add(1)
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.ToLower(q.Name.String())
	if z.silent[name] {
		return nil, false
	}
	resp := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true, Authoritative: true},
		Questions: []dnsmessage.Question{q},
	}
	hdr := func(n string, t dnsmessage.Type) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(n), Type: t, Class: dnsmessage.ClassINET, TTL: 60}
	}
	switch {
	case z.servfail[name]:
		resp.Header.RCode = dnsmessage.RCodeServerFailure
	default:
		cur, known := name, false
		for hop := 0; hop < 20; hop++ {
			next, ok := z.cname[cur]
			if !ok {
				break
			}
			known = true
			resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: hdr(cur, dnsmessage.TypeCNAME),
				Body: &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(next)}})
			if q.Type == dnsmessage.TypeCNAME {
				break
			}
			cur = next
		}
		addrs, ok := z.a[cur]
		known = known || ok
		for _, a := range addrs {
			switch {
			case q.Type == dnsmessage.TypeA && a.Is4():
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: hdr(cur, dnsmessage.TypeA), Body: &dnsmessage.AResource{A: a.As4()}})
			case q.Type == dnsmessage.TypeAAAA && a.Is6():
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: hdr(cur, dnsmessage.TypeAAAA), Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
			}
		}
		if !known {
			resp.Header.RCode = dnsmessage.RCodeNameError
		}
	}
	out, err := resp.Pack()
	if err != nil {
		panic(err)
	}
	if udp && len(out) > 512 {
		resp.Answers, resp.Header.Truncated = nil, true
		if out, err = resp.Pack(); err != nil {
			panic(err)
		}
	}
	return out, true
}

// serve runs the zone on 127.0.0.1 over UDP and TCP on one port and returns "127.0.0.1:port".
func serve(t *testing.T, z *zone) string {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if i > 20 {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { pc.Close(); ln.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out, ok := z.answer(buf[:n], true); ok {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					var l [2]byte
					if _, err := io.ReadFull(c, l[:]); err != nil {
						return
					}
					req := make([]byte, binary.BigEndian.Uint16(l[:]))
					if _, err := io.ReadFull(c, req); err != nil {
						return
					}
					out, ok := z.answer(req, false)
					if !ok {
						return
					}
					_, _ = c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...))
				}
			}()
		}
	}()
	return pc.LocalAddr().String()
}

func testZone() *zone {
	big := []netip.Addr{}
	for i := 1; i <= 60; i++ {
		big = append(big, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	return &zone{
		cname: map[string]string{
			"db.example.test.": "lb.example.test.",
			"lb.example.test.": "edge.cdn.test.",
			"loop1.test.":      "loop2.test.",
			"loop2.test.":      "loop1.test.",
			"dangling.test.":   "nowhere.test.",
			"v6alias.test.":    "v6only.test.",
		},
		a: map[string][]netip.Addr{
			"edge.cdn.test.": {netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")},
			"plain.test.":    {netip.MustParseAddr("198.51.100.7")},
			"v6only.test.":   {netip.MustParseAddr("2001:db8::6")},
			"big.test.":      big,
		},
		servfail: map[string]bool{"broken.test.": true},
		silent:   map[string]bool{"silent.test.": true},
	}
}

func newTestResolver(t *testing.T, server string, timeout time.Duration) *Resolver {
	t.Helper()
	nr := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
	r, err := New(Config{Resolver: nr, Servers: []string{server}, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestResolve(t *testing.T) {
	t.Parallel()
	server := serve(t, testZone())
	r := newTestResolver(t, server, 3*time.Second)
	wantLabel := "go via " + server
	if r.Label() != wantLabel {
		t.Errorf("label = %q", r.Label())
	}
	ctx := context.Background()
	for _, tc := range []struct {
		host   string
		cnames []string
		addrs  []netip.Addr
	}{
		{"db.example.test", []string{"lb.example.test", "edge.cdn.test"}, addrs("192.0.2.10", "192.0.2.11", "2001:db8::10")},
		{"DB.Example.Test.", []string{"lb.example.test", "edge.cdn.test"}, addrs("192.0.2.10", "192.0.2.11", "2001:db8::10")},
		{"plain.test", nil, addrs("198.51.100.7")},
		{"v6alias.test", []string{"v6only.test"}, addrs("2001:db8::6")},
	} {
		res, err := r.Resolve(ctx, tc.host)
		if err != nil {
			t.Errorf("Resolve(%s): %v", tc.host, err)
			continue
		}
		if !slices.Equal(res.CNAMEs, tc.cnames) || !slices.Equal(res.Addrs, tc.addrs) || res.Resolver != wantLabel {
			t.Errorf("Resolve(%s) = %+v, want cnames %v addrs %v", tc.host, res, tc.cnames, tc.addrs)
		}
	}
	// A truncated UDP answer: both net.Resolver and the chain query fall back to TCP.
	res, err := r.Resolve(ctx, "big.test")
	if err != nil || len(res.Addrs) != 60 || res.Addrs[0] != netip.MustParseAddr("203.0.113.1") {
		t.Errorf("big.test = %+v, %v", res, err)
	}
}

func TestResolveLiterals(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Servers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{"192.0.2.1": "192.0.2.1", "2001:db8::1": "2001:db8::1", "[2001:db8::2]": "2001:db8::2", "::ffff:192.0.2.3": "192.0.2.3"} {
		res, err := r.Resolve(context.Background(), in)
		if err != nil || len(res.Addrs) != 1 || res.Addrs[0] != netip.MustParseAddr(want) || res.Resolver != "literal" || len(res.CNAMEs) != 0 {
			t.Errorf("Resolve(%s) = %+v, %v", in, res, err)
		}
	}
}

func TestResolveFailures(t *testing.T) {
	t.Parallel()
	z := testZone()
	server := serve(t, z)
	r := newTestResolver(t, server, 500*time.Millisecond)
	ctx := context.Background()
	for _, tc := range []struct {
		host string
		kind Kind
		is   error
	}{
		{"nx.test", KindNotFound, ErrNotFound},
		{"dangling.test", KindNotFound, ErrNotFound},
		{"broken.test", KindTemporary, ErrTemporary},
		{"silent.test", KindTemporary, ErrTemporary},
		{"", KindOther, nil},
	} {
		_, err := r.Resolve(ctx, tc.host)
		var re *Error
		if !errors.As(err, &re) {
			t.Errorf("Resolve(%q) = %v, want *Error", tc.host, err)
			continue
		}
		if re.Kind != tc.kind || re.Host != tc.host || re.Resolver != r.Label() || re.Err == nil {
			t.Errorf("Resolve(%q) = %+v, want kind %v", tc.host, re, tc.kind)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("Resolve(%q): errors.Is(%v) false", tc.host, tc.is)
		}
		if !strings.Contains(err.Error(), tc.host) || !strings.Contains(err.Error(), server) {
			t.Errorf("Resolve(%q) error %q names neither host nor resolver", tc.host, err)
		}
	}
	// A CNAME loop never hangs: it fails (not found) or the chain stops at the loop.
	if _, err := r.Resolve(ctx, "loop1.test"); err == nil {
		t.Errorf("loop resolved")
	}
}

// Without a server for chain queries the canonical name from net.Resolver is used.
func TestChainFallbackToCanonical(t *testing.T) {
	t.Parallel()
	server := serve(t, testZone())
	nr := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(conf, []byte("# no nameservers\nsearch example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Resolver: nr, ResolvConf: conf, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Resolve(context.Background(), "db.example.test")
	if err != nil {
		t.Fatal(err)
	}
	// The canonical name is always last; the intermediate alias may be missing (see chain).
	if !(slices.Equal(res.CNAMEs, []string{"edge.cdn.test"}) || slices.Equal(res.CNAMEs, []string{"lb.example.test", "edge.cdn.test"})) ||
		res.Resolver != "test" {
		t.Errorf("res = %+v", res)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	if err := os.WriteFile(good, []byte("search example.com\nnameserver 10.0.0.2\nnameserver 2001:db8::53\noptions ndots:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{ResolvConf: good})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("system via 10.0.0.2:53,[2001:db8::53]:53 (%s)", good); r.Label() != want {
		t.Errorf("label = %q, want %q", r.Label(), want)
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("search x\nnameserver not-an-ip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{ResolvConf: bad}); err == nil || !strings.Contains(err.Error(), bad+":2") {
		t.Errorf("bad resolv.conf: %v", err)
	}
	if _, err := New(Config{Servers: []string{"10.0.0.2"}}); err == nil || !strings.Contains(err.Error(), "10.0.0.2") {
		t.Errorf("server without port: %v", err)
	}
	if _, err := New(Config{Timeout: -time.Second}); err == nil {
		t.Error("negative timeout accepted")
	}
	if _, err := New(Config{ResolvConf: filepath.Join(dir, "missing.conf")}); err != nil {
		t.Errorf("missing resolv.conf is allowed (no chain queries): %v", err)
	}
}

func TestStatic(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Servers: []string{"127.0.0.1:1"}, Static: map[string][]netip.Addr{
		"DB.Example.NO.": addrs("2001:700::1", "51.120.0.1", "51.120.0.1"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Resolve(context.Background(), "db.example.no")
	if err != nil || res.Resolver != "static" || !slices.Equal(res.Addrs, addrs("51.120.0.1", "2001:700::1")) {
		t.Errorf("static = %+v, %v", res, err)
	}
	if _, err := New(Config{Static: map[string][]netip.Addr{"x": nil}}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("empty static entry: %v", err)
	}
}
