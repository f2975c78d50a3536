//go:build linux

// Command varde-vantage is one remote vantage for `make serve`: a varde agent in a network namespace of
// its own, where the latency lab answers the demo's target addresses with this vantage's delays (the same
// 198.18.0.x target 7 ms from Bergen and 12 ms from Stockholm). The only way out of the namespace is a
// Unix socket that this process, left in the machine's namespace, forwards to the server's TCP address;
// TLS runs end to end through it, as over any network. It is a demo harness (it links the lab), never
// part of the varde binary.
//
//	VARDE_AGENT_TOKEN=vardeagent_… varde-vantage -vantage bergen-bix -server https://127.0.0.1:8080/v1/agent \
//	    -ca out/tls.pem -dir out/agents/bergen-bix -lab oslo-nix=7ms,stockholm=12ms,frankfurt=24ms,us-east=98ms
//
// The lab's targets take 198.18.0.2, .3, … in the order given. SIGTERM stops the agent, the lab and the
// namespace (nothing else holds it).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/varde/varde/agent"
	"github.com/varde/varde/probes/lab"
)

// childEnv marks the re-executed process inside the new namespace; sockEnv names the way out.
const (
	childEnv = "VARDE_VANTAGE_CHILD"
	sockEnv  = "VARDE_VANTAGE_SOCK"
)

type options struct {
	vantage, server, ca, dir string
	targets                  []lab.Target
}

func main() {
	var o options
	var labSpec, ports string
	flag.StringVar(&o.vantage, "vantage", "", "the vantage this agent measures from (required)")
	flag.StringVar(&o.server, "server", "", "the agent protocol's URL, https://HOST:PORT/v1/agent (required)")
	flag.StringVar(&o.ca, "ca", "", "PEM file of the CA that signs the server's certificate (required)")
	flag.StringVar(&o.dir, "dir", "", "the agent's directory: key, identity, spool (required)")
	flag.StringVar(&labSpec, "lab", "", "NAME=RTT,... the lab's targets as seen from this vantage, in address order (required)")
	flag.StringVar(&ports, "ports", "443", "TCP ports with a listener on every lab target")
	flag.Parse()
	var err error
	if o.targets, err = parseLab(labSpec, ports); err == nil {
		err = o.check()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "varde-vantage:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if os.Getenv(childEnv) == "1" {
		err = child(ctx, o, os.Getenv(sockEnv))
	} else {
		err = parent(ctx, o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "varde-vantage %s: %v\n", o.vantage, err)
		os.Exit(1)
	}
}

func (o options) check() error {
	switch {
	case o.vantage == "" || o.server == "" || o.ca == "" || o.dir == "":
		return errors.New("-vantage, -server, -ca and -dir are required")
	case !strings.HasPrefix(o.server, "https://"):
		return fmt.Errorf("-server %q: want an https:// URL", o.server)
	}
	return nil
}

func parseLab(spec, ports string) ([]lab.Target, error) {
	var ps []uint16
	for _, p := range strings.Split(ports, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("-ports %q: %q is not a port", ports, p)
		}
		ps = append(ps, uint16(n))
	}
	var ts []lab.Target
	for _, f := range strings.Split(spec, ",") {
		name, rtt, ok := strings.Cut(strings.TrimSpace(f), "=")
		d, err := time.ParseDuration(rtt)
		if !ok || name == "" || err != nil || d <= 0 {
			return nil, fmt.Errorf("-lab %q: %q is not NAME=RTT (e.g. frankfurt=24ms)", spec, f)
		}
		ts = append(ts, lab.Target{Name: name, RTT: d, Ports: ps})
	}
	return ts, nil
}

// parent stays in the machine's namespace: it forwards the Unix socket to the server and runs the agent
// in a new network namespace, until it is told to stop or the agent ends.
func parent(ctx context.Context, o options) error {
	u, err := url.Parse(o.server)
	if err != nil {
		return fmt.Errorf("-server: %w", err)
	}
	hostport := u.Host
	if u.Port() == "" {
		hostport = net.JoinHostPort(u.Hostname(), "443")
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	sock := filepath.Join(o.dir, "server.sock")
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	defer ln.Close()
	go forward(ln, hostport)
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"=1", sockEnv+"="+sock)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("agent in a new network namespace: %w", err)
	}
	fmt.Printf("varde-vantage %s: agent pid %d in network namespace net:[%s]\n", o.vantage, cmd.Process.Pid, netns(cmd.Process.Pid))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		return nil
	}
}

func netns(pid int) string {
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSuffix(strings.TrimPrefix(l, "net:["), "]")
}

// forward joins every connection on ln to a new TCP connection to hostport, bytes both ways.
func forward(ln net.Listener, hostport string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			s, err := net.DialTimeout("tcp", hostport, 10*time.Second)
			if err != nil {
				return
			}
			defer s.Close()
			go func() {
				io.Copy(s, c)
				s.(*net.TCPConn).CloseWrite()
			}()
			io.Copy(c, s)
		}()
	}
}

// child runs in the new namespace: loopback up, the lab with this vantage's delays, then the agent,
// enrolled first when its directory holds no identity (the one-time token is in VARDE_AGENT_TOKEN).
func child(ctx context.Context, o options, sock string) error {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("lo up: %v: %s", err, out)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("vantage", o.vantage)
	l, err := lab.StartPrivate(ctx, lab.Config{Targets: o.targets, Logger: logger})
	if err != nil {
		return err
	}
	defer l.Close()
	var eps []string
	for _, ep := range l.Endpoints() {
		eps = append(eps, fmt.Sprintf("%s=%s", ep.Name, ep.Addr))
	}
	pemCA, err := os.ReadFile(o.ca)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return fmt.Errorf("-ca %s: no PEM certificate", o.ca)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
	cfg := agent.Config{Server: o.server, Dir: o.dir, HTTPClient: &http.Client{Transport: tr}, Logger: logger}
	a, err := agent.Open(cfg)
	if err != nil {
		token := os.Getenv("VARDE_AGENT_TOKEN")
		if token == "" {
			return fmt.Errorf("%v, and VARDE_AGENT_TOKEN is empty", err)
		}
		if _, err := agent.Enrol(ctx, cfg, token, o.vantage, "demo-"+o.vantage); err != nil {
			return err
		}
		if a, err = agent.Open(cfg); err != nil {
			return err
		}
	}
	fmt.Printf("varde-vantage %s: agent %d running; lab %s\n", o.vantage, a.Identity().AgentID, strings.Join(eps, " "))
	if err := a.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
