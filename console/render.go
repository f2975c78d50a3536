package console

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/varde/varde/storage"
)

//go:embed templates/*.html
var templateFS embed.FS

type page struct{ t *template.Template }

var funcs = template.FuncMap{
	"join": strings.Join,
	"dur": func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return "—"
		}
		return fmtDuration(b.Sub(a))
	},
	"durp": func(a time.Time, b *time.Time) string {
		if b == nil {
			return "—"
		}
		return fmtDuration(b.Sub(a))
	},
	"hex": func(b []byte) string { return fmt.Sprintf("%x", b) },
	"deref": func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	},
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("dict: odd number of arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func parsePages() (map[string]*page, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*page{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		pages[base] = &page{t}
	}
	return pages, nil
}

// view is what every page template gets.
type view struct {
	L     locale
	User  *user
	Title string
	Path  string // the request's path and query, for the language switch
	Nav   string // which navigation entry is current
	Data  any
}

// render executes a page into a buffer first, so a template error becomes a clean 500, never half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	p, ok := h.pages[name]
	if !ok {
		h.serverError(w, r, fmt.Errorf("console: no template %q", name))
		return
	}
	l := localeFor(r)
	v := view{L: l, User: userOf(r), Title: l.T(title), Path: r.URL.RequestURI(), Data: data}
	if r.Method != http.MethodGet {
		v.Path = r.URL.Path
	}
	switch {
	case name == "dashboard":
		v.Nav = "dashboard"
	case strings.HasPrefix(name, "audit"), name == "map", name == "latency", name == "reports", name == "chain":
		v.Nav = "audits"
	case strings.HasPrefix(name, "schedule"):
		v.Nav = "schedules"
	case strings.HasPrefix(name, "agent"):
		v.Nav = "agents"
	}
	var buf bytes.Buffer
	root := "layout.html"
	if name == "chainfrag" || name == "nextruns" {
		root = "content" // a fragment for htmx to swap in
	}
	if err := p.t.ExecuteTemplate(&buf, root, v); err != nil {
		h.serverError(w, r, fmt.Errorf("console: render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", map[string]string{"en": "en", "nb": "nb"}[l.Lang])
	w.Header().Set("Vary", "Accept-Language, Cookie, HX-Request")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorData struct {
	Status  int
	Message string
}

func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", "Error", errorData{status, msg})
}

func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.Logger.Error("console: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	h.errorPage(w, r, http.StatusInternalServerError, localeFor(r).T("Something went wrong on the server; it is logged."))
}

// notFoundOr500 shows a missing audit or report as 404 and anything else as a server error.
func (h *Handler) notFoundOr500(w http.ResponseWriter, r *http.Request, err error) {
	if isNotFound(err) {
		h.notFound(w, r)
		return
	}
	h.serverError(w, r, err)
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
