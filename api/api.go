// Package api is the HTTP API of `varde serve`: audit configs, schedules, audits and their evidence rows,
// guest snapshots, signed reports, evidence verification and API tokens, described by an OpenAPI 3.1
// document that Huma derives from the Go types. Errors are RFC 9457 problem+json naming what was wrong;
// every operation needs a bearer token with one scope; long lists are streamed from Postgres row by row.
package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/schedule"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/token"
)

// Version is the API's version in its OpenAPI document. It changes when the API does, not with each
// build, so the committed docs/openapi.json stays valid across builds.
const Version = "1.0.0"

// securityScheme is the name of the bearer token scheme in the OpenAPI document.
const securityScheme = "token"

// Config says what the API serves from.
type Config struct {
	// Store is the evidence database. Required.
	Store *storage.Store
	// Scheduler keeps configs, schedules and runs and starts audits. Required.
	Scheduler Scheduler
	// Logger gets one line per authenticated request and every server-side error. Default: discard.
	Logger *slog.Logger
	// Now is the clock for token expiry and revocation. Default time.Now.
	Now func() time.Time
	// RateLimit is the requests per second each token (or, before authentication, each client address)
	// may make, with bursts of twice as many. Default 100; negative turns limiting off.
	RateLimit float64
	// ReportTrust is what stored reports are verified against (their signer's CA, TSA roots, CRLs).
	ReportTrust sign.VerifyConfig
	// ExportEvidence writes an audit's evidence bundle (the format of `varde evidence export`) to w. Nil:
	// the export operation answers 501 until the binary has an exporter.
	ExportEvidence func(ctx context.Context, auditID int64, w io.Writer) error
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RateLimit == 0 {
		c.RateLimit = 100
	}
}

// Validate reports a Config that cannot serve.
func (c *Config) Validate() error {
	if c.Store == nil {
		return errors.New("api: Store is required")
	}
	if c.Scheduler == nil {
		return errors.New("api: Scheduler is required")
	}
	return nil
}

// Server is the API, registered on a ServeMux.
type Server struct {
	cfg     Config
	api     huma.API
	limiter *limiter
}

// New registers every operation, /openapi.json and /schemas/ on mux.
func New(mux *http.ServeMux, cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc := huma.DefaultConfig("varde", Version)
	hc.Info.Description = "The scheduled audit API of varde: audit configs, schedules, audits and their " +
		"evidence, signed reports. Every operation needs a bearer token (varde token create) with the scope it names."
	hc.DocsPath = "" // the docs renderer loads scripts from a CDN; the document itself is at /openapi.json
	hc.CreateHooks = nil
	hc.RejectUnknownQueryParameters = true
	hc.Components.Schemas = huma.NewMapRegistry("#/components/schemas/", schemaName)
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		securityScheme: {Type: "http", Scheme: "bearer", BearerFormat: "varde_ followed by 38 letters and digits",
			Description: "An API token from `varde token create` or POST /v1/tokens."},
	}
	s := &Server{cfg: cfg, limiter: newLimiter(cfg.RateLimit)}
	s.api = humago.New(mux, hc)
	s.api.UseMiddleware(s.authenticate)
	s.registerAudits()
	s.registerReports()
	s.registerTokens()
	s.registerSchedules()
	return s, nil
}

// OpenAPI is the document served at /openapi.json.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// schemaName is Huma's default name, with the signature validator's types prefixed PDF: its Report is
// not storage's Report.
func schemaName(t reflect.Type, hint string) string {
	name := huma.DefaultSchemaNamer(t, hint)
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if strings.HasSuffix(t.PkgPath(), "/reports/sign") {
		return "PDF" + name
	}
	return name
}

// op describes an operation that needs scope.
func op(id, method, path, summary, tag string, scope token.Scope) huma.Operation {
	return huma.Operation{
		OperationID: id, Method: method, Path: path, Summary: summary, Tags: []string{tag},
		Description: "Needs a token with scope `" + string(scope) + "`.",
		Security:    []map[string][]string{{securityScheme: {string(scope)}}},
		Errors:      []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests},
	}
}

// scopeOf is the scope an operation needs, "" for none.
func scopeOf(o *huma.Operation) token.Scope {
	for _, req := range o.Security {
		if ss := req[securityScheme]; len(ss) > 0 {
			return token.Scope(ss[0])
		}
	}
	return ""
}

type principalKey struct{}

// principal is the token a request was authenticated with.
func principal(ctx context.Context) storage.APIToken {
	t, _ := ctx.Value(principalKey{}).(storage.APIToken)
	return t
}

// actor names the token for the records an operation makes (created_by, requested_by).
func actor(ctx context.Context) string {
	t := principal(ctx)
	return fmt.Sprintf("token %d (%s)", t.ID, t.Name)
}

// touchEvery is how stale a token's last_used_at may be before a request writes it again.
const touchEvery = time.Minute

// authenticate admits a request to an operation when its bearer token is well formed, known, neither
// revoked nor expired, carries the operation's scope and is within its rate. Failures are 401 (no
// valid token), 403 (a valid token without the scope) or 429, all problem+json. The token is never
// logged; its ID and name are.
func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	o := ctx.Operation()
	need := scopeOf(o)
	if need == "" {
		next(ctx)
		return
	}
	deny := func(status int, msg string) {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="varde"`)
		huma.WriteErr(s.api, ctx, status, msg)
	}
	client := clientAddr(ctx.RemoteAddr())
	raw, ok := strings.CutPrefix(ctx.Header("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		if !s.allow(ctx, "addr "+client) {
			return
		}
		deny(http.StatusUnauthorized, "no token: send Authorization: Bearer varde_...")
		return
	}
	raw = strings.TrimSpace(raw)
	if err := token.Check(raw); err != nil {
		if !s.allow(ctx, "addr "+client) {
			return
		}
		deny(http.StatusUnauthorized, "token refused: "+err.Error())
		return
	}
	t, err := s.cfg.Store.TokenByDigest(ctx.Context(), token.Digest(raw))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if !s.allow(ctx, "addr "+client) {
			return
		}
		s.cfg.Logger.Info("unknown token", "operation", o.OperationID, "client", client)
		deny(http.StatusUnauthorized, "token refused: no such token")
		return
	case err != nil:
		s.cfg.Logger.Error("token lookup", "operation", o.OperationID, "err", err)
		huma.WriteErr(s.api, ctx, http.StatusServiceUnavailable, "cannot check the token now: the database did not answer")
		return
	}
	if !s.allow(ctx, fmt.Sprint("token ", t.ID)) {
		return
	}
	now := s.cfg.Now()
	log := s.cfg.Logger.With("token_id", t.ID, "token_name", t.Name, "operation", o.OperationID, "client", client)
	switch {
	case t.RevokedAt != nil:
		log.Info("revoked token used")
		deny(http.StatusUnauthorized, fmt.Sprintf("token refused: token %d was revoked at %s", t.ID, t.RevokedAt.UTC().Format(time.RFC3339)))
		return
	case !now.Before(t.ExpiresAt):
		log.Info("expired token used")
		deny(http.StatusUnauthorized, fmt.Sprintf("token refused: token %d expired at %s", t.ID, t.ExpiresAt.UTC().Format(time.RFC3339)))
		return
	}
	has := false
	for _, sc := range t.Scopes {
		has = has || token.Scope(sc) == need
	}
	if !has {
		log.Info("token lacks scope", "scope", need)
		huma.WriteErr(s.api, ctx, http.StatusForbidden,
			fmt.Sprintf("token %d (%s) lacks the scope %s that this operation needs", t.ID, t.Name, need))
		return
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= touchEvery {
		if err := s.cfg.Store.TouchToken(ctx.Context(), t.ID, now, touchEvery); err != nil {
			log.Warn("record token use", "err", err)
		}
	}
	log.Info("request", "method", ctx.Method(), "path", ctx.URL().Path)
	next(huma.WithValue(ctx, principalKey{}, t))
}

// allow takes one request from key's rate; over it, it answers 429 with Retry-After and returns false.
func (s *Server) allow(ctx huma.Context, key string) bool {
	ok, wait := s.limiter.allow(key)
	if ok {
		return true
	}
	secs := int(wait/time.Second) + 1
	ctx.SetHeader("Retry-After", fmt.Sprint(secs))
	huma.WriteErr(s.api, ctx, http.StatusTooManyRequests, fmt.Sprintf("too many requests: at most %g a second; retry in %d s", s.cfg.RateLimit, secs))
	return false
}

// clientAddr is the host part of a remote address.
func clientAddr(remote string) string {
	if i := strings.LastIndexByte(remote, ':'); i > 0 {
		return strings.Trim(remote[:i], "[]")
	}
	return remote
}

// fail turns an error from the layers below into a problem. Not-found is 404; an input error (the
// scheduler's) is 422 naming the field; anything else is logged and answered 500 without its text,
// which may name database internals.
func (s *Server) fail(ctx context.Context, what string, err error) error {
	var in *schedule.InputError
	var fe fieldError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return huma.Error404NotFound(firstLine(err.Error()))
	case errors.As(err, &in):
		return huma.Error422UnprocessableEntity(what+": "+firstLine(err.Error()),
			&huma.ErrorDetail{Location: location(in.Field), Message: in.Problem})
	case errors.As(err, &fe):
		return huma.Error422UnprocessableEntity(what+": "+firstLine(err.Error()),
			&huma.ErrorDetail{Location: location(fe.field), Message: fe.problem})
	case errors.Is(err, storage.ErrConflict):
		return huma.Error409Conflict(what + ": " + firstLine(err.Error()))
	case errors.Is(err, context.Canceled):
		return huma.NewError(499, "request cancelled")
	}
	s.cfg.Logger.Error(what, "err", err)
	return huma.Error500InternalServerError(what + ": internal error (logged on the server)")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// location is where a field of the request body is, in Huma's terms: body.spec, or body for the whole.
func location(field string) string {
	if field == "" || field == "body" || strings.Contains(field, ".") {
		return cmp.Or(field, "body")
	}
	return "body." + field
}
