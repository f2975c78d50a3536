package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"riverqueue.com/riverui"

	"github.com/varde/varde/api"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/token"
)

// riverUIPrefix is where River's own UI is mounted, for admins: it shows (and can retry or cancel)
// River's job rows, which are the queue's bookkeeping and never the audit's evidence.
const riverUIPrefix = "/riverui"

// mountRiverUI serves River's UI at /riverui/ to tokens with tokens:admin: as a bearer token, or, for a
// browser, as the password of HTTP Basic authentication (any user name). It has a pool and an
// insert-only River client of its own; the returned func stops them.
func mountRiverUI(ctx context.Context, mux *http.ServeMux, dbURL string, st *storage.Store, logger *slog.Logger, now func() time.Time) (func(), error) {
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	pcfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: logger})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("river UI: %w", err)
	}
	h, err := riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(client, nil), Logger: logger,
		Prefix: riverUIPrefix, JobListHideArgsByDefault: true})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("river UI: %w", err)
	}
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := h.Start(uctx); err != nil {
		cancel()
		pool.Close()
		return nil, fmt.Errorf("river UI: %w", err)
	}
	mux.Handle(riverUIPrefix+"/", adminOnly(h, st, logger, now))
	return func() { cancel(); pool.Close() }, nil
}

// adminOnly lets through requests with a usable token that has tokens:admin.
func adminOnly(next http.Handler, st *storage.Store, logger *slog.Logger, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			_, raw, _ = r.BasicAuth()
		}
		t, err := api.Authenticate(r.Context(), st, strings.TrimSpace(raw), now())
		switch {
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Basic realm="varde River UI: a token with tokens:admin as the password"`)
			http.Error(w, "River's UI needs a varde token with tokens:admin", http.StatusUnauthorized)
			return
		case !slices.Contains(t.Scopes, string(token.TokensAdmin)):
			http.Error(w, fmt.Sprintf("token %d lacks tokens:admin, which River's UI needs", t.ID), http.StatusForbidden)
			return
		}
		logger.Info("river UI", "token_id", t.ID, "token_name", t.Name, "method", r.Method, "path", r.URL.Path)
		next.ServeHTTP(w, r)
	})
}
