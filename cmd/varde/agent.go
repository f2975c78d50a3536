package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/varde/varde/agent"
	"github.com/varde/varde/agentsrv"
	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/probes"
)

// cmdAgent: `varde agent enrol|run` at a vantage (no database: HTTPS to `varde serve` only), and
// `varde agent token|list|revoke` for the admin (database).
func cmdAgent(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("agent: want a subcommand: enrol, run, token, list, revoke or monitor")
	}
	switch args[0] {
	case "enrol", "enroll":
		return cmdAgentEnrol(ctx, e, args[1:])
	case "run":
		return cmdAgentRun(ctx, e, args[1:])
	case "token":
		return cmdAgentToken(ctx, e, args[1:])
	case "list":
		return cmdAgentList(ctx, e, args[1:])
	case "revoke":
		return cmdAgentRevoke(ctx, e, args[1:])
	case "monitor":
		return cmdAgentMonitor(ctx, e, args[1:])
	}
	return usagef("agent: unknown subcommand %q (want enrol, run, token, list, revoke or monitor)", args[0])
}

func agentFlags(e *env, name string) (*flag.FlagSet, *agent.Config) {
	fs := newFlagSet(e, "agent "+name)
	cfg := &agent.Config{Logger: slog.New(slog.NewJSONHandler(e.stderr, nil))}
	fs.StringVar(&cfg.Server, "server", e.getenv("VARDE_AGENT_SERVER"), "agent protocol URL, e.g. https://varde.example:8443/v1/agent (default $VARDE_AGENT_SERVER)")
	fs.StringVar(&cfg.CAFile, "ca", e.getenv("VARDE_AGENT_CA"), "PEM file of the CA to trust for the server (default $VARDE_AGENT_CA; system roots if empty)")
	fs.StringVar(&cfg.Dir, "dir", "/var/lib/varde-agent", "state directory: key, identity, spool")
	return fs, cfg
}

func cmdAgentEnrol(ctx context.Context, e *env, args []string) error {
	fs, cfg := agentFlags(e, "enrol")
	vantage := fs.String("vantage", "", "the vantage this agent measures from (must be the token's)")
	host, _ := os.Hostname()
	name := fs.String("name", host, "a name for people")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// The token comes from the environment only: a command line is visible to every user of the machine.
	tok := e.getenv("VARDE_AGENT_TOKEN")
	if tok == "" {
		return usagef("agent enrol: set VARDE_AGENT_TOKEN to the enrolment token from `varde agent token`")
	}
	if *vantage == "" {
		return usagef("agent enrol: --vantage is required")
	}
	id, err := agent.Enrol(ctx, *cfg, tok, *vantage, *name)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "enrolled agent %d for vantage %s; key and identity in %s\n", id.AgentID, id.Vantage, cfg.Dir)
	return nil
}

func cmdAgentRun(ctx context.Context, e *env, args []string) error {
	fs, cfg := agentFlags(e, "run")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := agent.Open(*cfg)
	if err != nil {
		return err
	}
	err = a.Run(ctx)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil // stopped (a signal): the spool keeps what was not delivered
	}
	return err
}

func adminServer(ctx context.Context, e *env) (*agentsrv.Server, func(), error) {
	s, err := e.openStore(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	srv, err := agentsrv.New(agentsrv.Config{Store: s, Logger: e.logger})
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return srv, s.Close, nil
}

func cmdAgentToken(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "agent token")
	vantage := fs.String("vantage", "", "the vantage the new agent will measure from")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token can be used (once)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *vantage == "" {
		return usagef("agent token: --vantage is required")
	}
	srv, done, err := adminServer(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	tok, err := srv.CreateEnrolment(ctx, *vantage, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, tok)
	fmt.Fprintf(e.stderr, "one-time enrolment token for vantage %s, valid %v; only its sha256 is stored. At the vantage:\n  VARDE_AGENT_TOKEN=... varde agent enrol --server URL --vantage %s\n", *vantage, *ttl, *vantage)
	return nil
}

func cmdAgentList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "agent list")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	as, err := s.Agents(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVANTAGE\tNAME\tVERSION\tENROLLED\tLAST SEEN\tREVOKED")
	ts := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, a := range as {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Vantage, a.Name, a.Version, a.EnrolledAt.UTC().Format(time.RFC3339), ts(a.LastSeen), ts(a.RevokedAt))
	}
	return tw.Flush()
}

func cmdAgentRevoke(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "agent revoke")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("agent revoke: want one agent ID (see varde agent list)")
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return usagef("agent revoke: %q is not an agent ID", fs.Arg(0))
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.RevokeAgent(ctx, id, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "agent %d revoked: its requests are refused from now on\n", id)
	return nil
}

// cmdAgentMonitor sets monitoring between audits for a vantage: its agents measure the targets every
// interval and send a signed summary of each interval.
func cmdAgentMonitor(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "agent monitor")
	vantage := fs.String("vantage", "", "the vantage whose agents monitor")
	every := fs.Duration("every", 5*time.Minute, "how often the targets are measured; one summary per interval")
	icmp := fs.Int("icmp-count", 5, "ICMP echoes per target per interval (the agent needs root)")
	tcp := fs.Int("tcp-count", 5, "TCP handshakes per target per interval")
	interval := fs.Duration("interval", 20*time.Millisecond, "time between one target's probes")
	timeout := fs.Duration("timeout", 2*time.Second, "probe timeout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *vantage == "" || fs.NArg() == 0 {
		return usagef("agent monitor: want --vantage and one or more HOST:PORT targets")
	}
	if *icmp < 0 || *tcp < 0 || *icmp+*tcp == 0 {
		return usagef("agent monitor: --icmp-count and --tcp-count must not be negative, and not both zero")
	}
	spec := agentwire.Spec{ICMP: *icmp, TCP: *tcp, IntervalNS: int64(*interval), TimeoutNS: int64(*timeout)}
	for _, a := range fs.Args() {
		pt, err := probes.ParseTarget(a)
		if err != nil {
			return usagef("agent monitor: target %q: %v", a, err)
		}
		port := pt.Port
		if port == 0 {
			port = 443
		}
		spec.Targets = append(spec.Targets, agentwire.Target{Name: a, Host: pt.Host, Port: port})
	}
	srv, done, err := adminServer(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	if err := srv.SetMonitor(ctx, *vantage, spec, *every); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "vantage %s: %d targets every %v\n", *vantage, len(spec.Targets), *every)
	return nil
}
