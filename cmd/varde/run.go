package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
)

// env is what every subcommand gets: where to write, how to log, and the global options.
type env struct {
	stdout, stderr io.Writer
	logger         *slog.Logger
	// databaseURL comes from --database-url or DATABASE_URL.
	databaseURL string
	// getenv is os.Getenv in production and a fake in tests.
	getenv func(string) string
}

type command struct {
	run     func(ctx context.Context, e *env, args []string) error
	summary string
}

// commands is the subcommand table. Groups ("db", "guest", ...) dispatch on their own second word.
var commands = map[string]command{
	"keys":      {cmdKeys, "report signing keys: init a CA and signer, show a key file"},
	"report":    {cmdReport, "signed PDF reports: generate, verify, sign"},
	"version":   {cmdVersion, "print the tool, schema and rules versions"},
	"db":        {cmdDB, "database: migrate, status, start, stop"},
	"verify":    {cmdVerify, "check an audit (or a report PDF) against its chain and the signed evidence log"},
	"evidence":  {cmdEvidence, "export an audit's evidence bundle for a third party"},
	"audit":     {cmdAudit, "run an audit from a config; list and show stored audits"},
	"guest":     {cmdGuest, "guest tuning checks: collect a snapshot, check a VM"},
	"probe":     {cmdProbe, "measure ICMP echo and TCP handshake latency to targets"},
	"residency": {cmdResidency, "judge where data stores are against EEA and adequacy rules"},
	"agent":     {cmdAgent, "remote vantage agents: enrol, run; token, list, revoke (admin)"},
	"serve":     {cmdServe, "the scheduled audit service: HTTP API, schedules, audits as jobs, metrics"},
	"token":     {cmdToken, "API tokens for varde serve: create, list, revoke"},
}

// usageError marks errors caused by how varde was called; main exits 2 for them.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// run is the whole program behind main, callable from tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runEnv(ctx, args, stdout, stderr, os.Getenv)
}

func runEnv(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	fs := flag.NewFlagSet("varde", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&e.databaseURL, "database-url", getenv("DATABASE_URL"), "Postgres URL (default $DATABASE_URL)")
	verbose := fs.Bool("v", false, "log debug messages to stderr")
	fs.Usage = func() { printUsage(stderr, fs) }
	// A bad global flag is one line, like a subcommand's; the usage is printed for -h only.
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelpShown) {
			return nil
		}
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	e.logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	rest := fs.Args()
	if len(rest) == 0 {
		printUsage(stderr, fs)
		return usagef("no command given")
	}
	c, ok := commands[rest[0]]
	if !ok {
		return usagef("unknown command %q (run varde -h for the list)", rest[0])
	}
	err := c.run(ctx, e, rest[1:])
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: varde [--database-url URL] [-v] COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nglobal options:")
	fs.PrintDefaults()
}

// newFlagSet makes a subcommand's flag set that reports errors to stderr and not by exiting.
func newFlagSet(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("varde "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseFlags parses args and turns flag errors into usage errors. -h returns errHelpShown.
func parseFlags(fs *flag.FlagSet, args []string) error {
	// The flag package prints its error and the whole usage before returning the error; main prints the
	// error as one line, so both are held back and the usage is shown only for -h.
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if usage != nil {
				usage()
			}
			return errHelpShown
		}
		if name, sub := strings.CutPrefix(fs.Name(), "varde "); sub {
			return usagef("%s: %v", name, flagError(fs, err))
		}
		return usagef("%v", flagError(fs, err))
	}
	return nil
}

// errHelpShown ends a command quietly after -h printed its help.
var errHelpShown = errors.New("help shown")

var reInvalidFlag = regexp.MustCompile(`^invalid value "(.*)" for flag -([^:]+): `)

// flagError rewrites the flag package's `invalid value "abc" for flag -audit: parse error` as
// `--audit "abc": want a whole number`, saying what the flag takes.
func flagError(fs *flag.FlagSet, err error) error {
	m := reInvalidFlag.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	f := fs.Lookup(m[2])
	if f == nil {
		return err
	}
	want := strings.TrimPrefix(err.Error(), m[0])
	switch fmt.Sprintf("%T", f.Value) {
	case "*flag.intValue", "*flag.int64Value", "*flag.uintValue", "*flag.uint64Value":
		want = "want a whole number"
	case "*flag.float64Value":
		want = "want a number"
	case "*flag.durationValue":
		want = "want a duration such as 500ms or 2s"
	case "*flag.boolValue":
		want = "want true or false"
	}
	return fmt.Errorf("--%s %q: %s", m[2], m[1], want)
}
