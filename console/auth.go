package console

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/varde/varde/storage"
	"github.com/varde/varde/token"
)

// Scopes of API tokens (issue 16) that the console maps its roles onto.
const (
	ScopeAuditsRead     = string(token.AuditsRead)
	ScopeAuditsRun      = string(token.AuditsRun)
	ScopeSchedulesWrite = string(token.SchedulesWrite)
	ScopeReportsRead    = string(token.ReportsRead)
	ScopeEvidenceRead   = string(token.EvidenceRead)
	ScopeTokensAdmin    = string(token.TokensAdmin)
	scopeNone           = ""
)

// Role is what a console user may do, derived from the token's scopes.
type Role string

// Roles: a viewer reads audits, reports and evidence; an operator also starts audits and writes
// schedules; an admin also administers tokens.
const (
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
)

// RoleOf maps scopes onto a role; ok is false when the scopes do not let the holder read audits, the
// least the console needs.
func RoleOf(scopes []string) (Role, bool) {
	has := func(s string) bool { return slices.Contains(scopes, s) }
	switch {
	case !has(ScopeAuditsRead):
		return "", false
	case has(ScopeTokensAdmin):
		return RoleAdmin, true
	case has(ScopeAuditsRun) || has(ScopeSchedulesWrite):
		return RoleOperator, true
	}
	return RoleViewer, true
}

const sessionCookie = "varde_session"

// user is the signed-in session of a request.
type user struct {
	storage.ConsoleSession
	Role   Role
	secret string
}

func (u *user) Can(scope string) bool { return u != nil && slices.Contains(u.Scopes, scope) }

type ctxKey struct{}

func userOf(r *http.Request) *user {
	u, _ := r.Context().Value(ctxKey{}).(*user)
	return u
}

// session runs next for a request with a live session holding scope; without a session the browser
// goes to sign-in (and comes back), without the scope it gets 403.
func (h *Handler) session(scope string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := h.currentUser(r)
		if err != nil {
			if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrSessionExpired) && !errors.Is(err, ErrBadToken) {
				h.serverError(w, r, err)
				return
			}
			clearCookie(w, r)
			back := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				back = "/"
			}
			to := "/signin?next=" + url.QueryEscape(back)
			if r.Header.Get("HX-Request") == "true" {
				// htmx follows redirects inside the fragment; make it load the whole page instead.
				w.Header().Set("HX-Redirect", to)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		if scope != scopeNone && !u.Can(scope) {
			h.errorPage(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, u)), http.StatusForbidden,
				localeFor(r).Tf("Your token lacks the scope %s for this page.", scope))
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, u)))
	})
}

func (h *Handler) currentUser(r *http.Request) (*user, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) < 32 || len(c.Value) > 128 {
		return nil, storage.ErrNotFound
	}
	s, err := h.cfg.Sessions.ConsoleSession(r.Context(), c.Value, h.cfg.Now())
	if err != nil {
		return nil, err
	}
	// A revoked or expired token ends its sessions at once, not at their own expiry.
	if err := h.cfg.Tokens.StillValid(r.Context(), s.TokenRef); err != nil {
		if errors.Is(err, ErrBadToken) {
			_ = h.cfg.Sessions.DeleteConsoleSession(r.Context(), c.Value)
		}
		return nil, err
	}
	role, ok := RoleOf(s.Scopes)
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &user{ConsoleSession: s, Role: role, secret: c.Value}, nil
}

// secureCookie: Secure everywhere but plain-HTTP localhost, where browsers would drop it.
func secureCookie(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip == nil || !ip.IsLoopback()
}

// setSessionCookie gives the cookie a lifetime (Max-Age) rather than a date: the browser's clock is not
// the server's, and the server enforces the expiry itself.
func setSessionCookie(w http.ResponseWriter, r *http.Request, secret string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", MaxAge: max(1, int(ttl.Seconds())),
		HttpOnly: true, Secure: secureCookie(r), SameSite: http.SameSiteStrictMode})
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secureCookie(r), SameSite: http.SameSiteStrictMode})
}

// localPath keeps a post-sign-in target on this site: a path, never a scheme or another host.
func localPath(s string) string {
	if s == "" || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return s
}

type signInData struct {
	Next, Error string
}

func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request) {
	if u, err := h.currentUser(r); err == nil && u != nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "signin", "Sign in", signInData{Next: localPath(r.URL.Query().Get("next"))})
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, localeFor(r).T("The form could not be read."))
		return
	}
	l := localeFor(r)
	next := localPath(r.PostForm.Get("next"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	fail := func(msg string) {
		h.render(w, r, http.StatusUnauthorized, "signin", "Sign in", signInData{Next: next, Error: msg})
	}
	if token == "" {
		fail(l.T("Paste an API token to sign in."))
		return
	}
	id, err := h.cfg.Tokens.Authenticate(r.Context(), token)
	if err != nil {
		if !errors.Is(err, ErrBadToken) {
			h.serverError(w, r, err)
			return
		}
		h.cfg.Logger.Info("console: sign-in refused", "reason", err.Error())
		fail(l.T("That token is not valid: it is unknown, expired or revoked."))
		return
	}
	if _, ok := RoleOf(id.Scopes); !ok {
		fail(l.Tf("That token lacks the scope %s, which the console needs.", ScopeAuditsRead))
		return
	}
	now := h.cfg.Now()
	exp := now.Add(h.cfg.SessionTTL)
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(exp) {
		exp = id.ExpiresAt
	}
	var b [32]byte
	rand.Read(b[:])
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	if err := h.cfg.Sessions.CreateConsoleSession(r.Context(), secret, storage.ConsoleSession{
		TokenRef: id.Ref, Subject: id.Subject, Scopes: id.Scopes, CreatedAt: now, ExpiresAt: exp}); err != nil {
		h.serverError(w, r, err)
		return
	}
	// Sessions nobody came back to are deleted here, a few rows at a time, rather than by a timer on
	// every replica.
	if n, err := h.cfg.Sessions.SweepConsoleSessions(r.Context(), now); err != nil {
		h.cfg.Logger.Warn("console: sweeping expired sessions", "err", err)
	} else if n > 0 {
		h.cfg.Logger.Debug("console: expired sessions deleted", "n", n)
	}
	h.cfg.Logger.Info("console: signed in", "subject", id.Subject, "token", id.Ref)
	setSessionCookie(w, r, secret, exp.Sub(now))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	if err := h.cfg.Sessions.DeleteConsoleSession(r.Context(), u.secret); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.cfg.Logger.Info("console: signed out", "subject", u.Subject, "token", u.TokenRef)
	clearCookie(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
