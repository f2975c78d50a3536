package main

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/varde/varde/api"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/token"
)

// cmdToken manages the API tokens of `varde serve`; `token create` makes the first admin token, which
// then makes the others through the API.
func cmdToken(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("token: want a subcommand: create, list or revoke")
	}
	switch args[0] {
	case "create":
		return cmdTokenCreate(ctx, e, args[1:])
	case "list":
		return cmdTokenList(ctx, e, args[1:])
	case "revoke":
		return cmdTokenRevoke(ctx, e, args[1:])
	}
	return usagef("token: unknown subcommand %q (want create, list or revoke)", args[0])
}

func cmdTokenCreate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "token create")
	name := fs.String("name", "", "what the token is for (required)")
	scopes := fs.String("scopes", "", "comma-separated scopes (required): "+token.Names(token.All()))
	expires := fs.Duration("expires", 90*24*time.Hour, "lifetime, at most "+api.MaxTokenLifetime.String())
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usagef("token create: --name is required")
	}
	if *scopes == "" {
		return usagef("token create: --scopes is required (one or more of %s)", token.Names(token.All()))
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	by := "varde token create"
	if u, err := user.Current(); err == nil {
		by += " (" + u.Username + ")"
	}
	t, err := api.IssueToken(ctx, s, *name, strings.Split(*scopes, ","), *expires, by, time.Now())
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	// The token alone on stdout, so a script can capture it; what it is goes to stderr.
	fmt.Fprintln(e.stdout, t.Token)
	fmt.Fprintf(e.stderr, "token %d %q: scopes %s, expires %s. It is shown only now: varde keeps its SHA-256.\n",
		t.ID, t.Name, strings.Join(t.Scopes, ","), t.ExpiresAt.UTC().Format(time.RFC3339))
	return nil
}

func cmdTokenList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "token list")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	ts, err := s.ListTokens(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tSCOPES\tSTATE\tEXPIRES\tLAST USED")
	for _, t := range ts {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Scopes, ","), tokenState(t, now),
			t.ExpiresAt.UTC().Format(time.RFC3339), timeOrDash(t.LastUsedAt))
	}
	return w.Flush()
}

func tokenState(t storage.APIToken, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked " + t.RevokedAt.UTC().Format(time.RFC3339)
	case !now.Before(t.ExpiresAt):
		return "expired"
	}
	return "active"
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func cmdTokenRevoke(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "token revoke")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("token revoke: want exactly one token ID (see varde token list)")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usagef("token revoke: %q: want a token ID, a positive number", pos[0])
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	t, err := s.RevokeToken(ctx, id, time.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("token revoke: no token %d", id)
	}
	if err != nil {
		return fmt.Errorf("token revoke: %w", err)
	}
	fmt.Fprintf(e.stdout, "token %d %q revoked at %s\n", t.ID, t.Name, t.RevokedAt.UTC().Format(time.RFC3339))
	return nil
}
