// Package console is varde's web console for compliance officers and sales: server-rendered pages
// (html/template, htmx for partial updates, every page readable with JavaScript off) over the stored
// evidence, with sign-in by API token into a session kept in Postgres so that any `varde serve` replica
// serves any request.
//
// It is an http.Handler built from a Config; the service mounts it at "/". What it reads and writes it
// reaches through the small interfaces below, which *storage.Store and the service's token and schedule
// components implement.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
)

// Evidence is what the console reads of stored audits. *storage.Store implements it.
type Evidence interface {
	AuditPage(ctx context.Context, f storage.AuditFilter) ([]storage.Audit, bool, error)
	GetAudit(ctx context.Context, id int64) (storage.Audit, error)
	Steps(ctx context.Context, auditID int64) ([]storage.Step, error)
	Verify(ctx context.Context, auditID int64) (storage.ChainReport, error)
	AuditSeal(ctx context.Context, auditID int64) (storage.LogLeaf, error)
	LogSize(ctx context.Context) (int64, error)
	LogLeaves(ctx context.Context) ([]storage.LogLeaf, error)
	FindingsPage(ctx context.Context, auditID int64, f storage.FindingFilter) ([]storage.Finding, bool, error)
	FindingCounts(ctx context.Context, auditID int64) ([]storage.FindingCount, error)
	FindingsByRule(ctx context.Context, auditID int64, ruleID string) ([]storage.Finding, error)
	Observations(ctx context.Context, auditID int64) ([]storage.Observation, error)
	Measurements(ctx context.Context, auditID int64) ([]storage.Measurement, error)
	Reports(ctx context.Context, auditID int64) ([]storage.Report, error)
	GetReport(ctx context.Context, id int64) (storage.Report, error)
}

// Sessions keeps console sessions. *storage.Store implements it.
type Sessions interface {
	CreateConsoleSession(ctx context.Context, secret string, s storage.ConsoleSession) error
	ConsoleSession(ctx context.Context, secret string, now time.Time) (storage.ConsoleSession, error)
	DeleteConsoleSession(ctx context.Context, secret string) error
	SweepConsoleSessions(ctx context.Context, now time.Time) (int64, error)
}

// Identity is who an API token speaks for.
type Identity struct {
	// Ref identifies the token without being it (its id or prefix); a session keeps it.
	Ref       string
	Subject   string
	Scopes    []string
	ExpiresAt time.Time // zero: no expiry
}

// ErrBadToken is what an Authenticator returns (wrapped) for a token that is unknown, expired or revoked.
var ErrBadToken = errors.New("token not valid")

// Tokens authenticates API tokens.
type Tokens interface {
	// Authenticate checks a presented token.
	Authenticate(ctx context.Context, token string) (Identity, error)
	// StillValid reports (nil) that the token a session was made from is neither revoked nor expired.
	StillValid(ctx context.Context, ref string) error
}

// ReportFiles opens a stored report's PDF.
type ReportFiles interface {
	ReadReport(ctx context.Context, r storage.Report) ([]byte, error)
}

// Config configures the console. Evidence, Sessions and Tokens are required.
type Config struct {
	Logger    *slog.Logger
	Now       func() time.Time
	Evidence  Evidence
	Sessions  Sessions
	Tokens    Tokens
	Schedules Schedules // nil: the schedules pages say the service has none
	// Agents lists remote vantage agents and revokes them; nil: the agents page says there are none.
	Agents Agents
	// AgentStaleAfter is how long an agent may go unheard and still count as live. Default 10 minutes:
	// two monitoring intervals at the default 5 minutes.
	AgentStaleAfter time.Duration
	// Reports reads report PDFs. Default: from the path the reports row records, checked against its
	// sha256.
	Reports ReportFiles
	// ReportTrust is what report signatures are verified against (the API's): without Roots nothing is
	// trusted and every signature shows as untrusted. Its Now defaults to the console's.
	ReportTrust sign.VerifyConfig
	// CheckpointDir and LogKey, when both set, let audit pages show the signed checkpoint covering the
	// audit's seal in the evidence log.
	CheckpointDir string
	LogKey        note.Verifier
	// SessionTTL bounds a session. Default 8h; never past the token's own expiry.
	SessionTTL time.Duration
	// ChainCheckTTL is how long a finished audit's chain check is shown before it is recomputed. Default
	// 10 minutes; the page says when it was checked and offers to check again.
	ChainCheckTTL time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.AgentStaleAfter <= 0 {
		c.AgentStaleAfter = 10 * time.Minute
	}
	if c.ChainCheckTTL <= 0 {
		c.ChainCheckTTL = 10 * time.Minute
	}
	if c.Reports == nil {
		c.Reports = fileReports{}
	}
	if c.ReportTrust.Now == nil {
		c.ReportTrust.Now = c.Now
	}
}

// Validate reports a configuration the console cannot run with.
func (c *Config) Validate() error {
	switch {
	case c.Evidence == nil:
		return errors.New("console config: Evidence is required")
	case c.Sessions == nil:
		return errors.New("console config: Sessions is required")
	case c.Tokens == nil:
		return errors.New("console config: Tokens is required")
	}
	return nil
}

//go:embed static
var staticFS embed.FS

// Handler serves the console.
type Handler struct {
	cfg    Config
	mux    *http.ServeMux
	pages  map[string]*page
	h      http.Handler
	chains auditCache[storage.ChainReport]
	counts auditCache[[]storage.FindingCount]
}

// New builds the console.
func New(cfg Config) (*Handler, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), pages: pages}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	h.mux.HandleFunc("GET /signin", h.signInPage)
	h.mux.HandleFunc("POST /signin", h.signIn)
	h.mux.HandleFunc("GET /lang", h.setLang)
	h.mux.Handle("POST /signout", h.session(scopeNone, h.signOut))
	h.mux.Handle("GET /{$}", h.session(ScopeAuditsRead, h.dashboard))
	h.mux.Handle("GET /audits", h.session(ScopeAuditsRead, h.auditsPage))
	h.mux.Handle("GET /audits/{id}", h.session(ScopeAuditsRead, h.auditPage))
	h.mux.Handle("GET /audits/{id}/chain", h.session(ScopeEvidenceRead, h.chainPage))
	h.mux.Handle("GET /audits/{id}/map", h.session(ScopeAuditsRead, h.mapPage))
	h.mux.Handle("GET /audits/{id}/latency", h.session(ScopeAuditsRead, h.latencyPage))
	h.mux.Handle("GET /audits/{id}/reports", h.session(ScopeReportsRead, h.reportsPage))
	h.mux.Handle("GET /reports/{id}/pdf", h.session(ScopeReportsRead, h.reportPDF))
	h.mux.Handle("GET /schedules", h.session(ScopeAuditsRead, h.schedulesPage))
	h.mux.Handle("GET /schedules/new", h.session(ScopeSchedulesWrite, h.scheduleForm))
	h.mux.Handle("GET /schedules/{id}/edit", h.session(ScopeSchedulesWrite, h.scheduleForm))
	h.mux.Handle("POST /schedules", h.session(ScopeSchedulesWrite, h.scheduleSubmit))
	h.mux.Handle("POST /schedules/{id}", h.session(ScopeSchedulesWrite, h.scheduleSubmit))
	h.mux.Handle("POST /schedules/preview", h.session(ScopeSchedulesWrite, h.schedulePreview))
	h.mux.Handle("POST /schedules/{id}/run", h.session(ScopeAuditsRun, h.runNow))
	h.mux.Handle("GET /agents", h.session(ScopeAuditsRead, h.agentsPage))
	h.mux.Handle("GET /agents/{id}/revoke", h.session(ScopeTokensAdmin, h.agentRevokeForm))
	h.mux.Handle("POST /agents/{id}/revoke", h.session(ScopeTokensAdmin, h.agentRevoke))
	h.mux.HandleFunc("/", h.notFound)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(h.crossOrigin))
	h.h = securityHeaders(cop.Handler(h.mux))
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.h.ServeHTTP(w, r) }

// csp allows nothing inline: scripts, styles and images come from the console itself.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

func staticHandler(fsys fs.FS) http.Handler {
	fh := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fh.ServeHTTP(w, r)
	})
}

func (h *Handler) crossOrigin(w http.ResponseWriter, r *http.Request) {
	h.cfg.Logger.Warn("console: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	h.errorPage(w, r, http.StatusForbidden, localeFor(r).T("Cross-origin request refused: this form must be sent from the console's own pages."))
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, http.StatusNotFound, localeFor(r).T("There is no such page."))
}
