package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Schedule is a scheduled audit as the console shows it.
type Schedule struct {
	ID          int64
	Config      string // the audit config it runs, by name
	Cron        string // five-field cron expression or a shorthand such as @quarterly
	TimeZone    string // IANA zone the cron expression is read in
	Enabled     bool
	NextRun     time.Time
	LastAuditID int64 // 0: no audit yet
	// LastRun is the status of the schedule's last run (queued, running, or its audit's final status),
	// LastRunError what stopped it; empty before the first run.
	LastRun, LastRunError string
}

// Name is how the console names a schedule: its number and config.
func (s Schedule) Name() string { return "#" + strconv.FormatInt(s.ID, 10) + " " + s.Config }

func (s Schedule) location() *time.Location {
	if loc, err := time.LoadLocation(s.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

// ScheduleInput is a schedule as the form gives it.
type ScheduleInput struct {
	Config, Cron, TimeZone string
	Enabled                bool
}

// ErrInvalidSchedule wraps errors about a schedule's input (a bad cron expression or zone, an unknown
// config): the form shows them; other errors are the server's.
var ErrInvalidSchedule = errors.New("invalid schedule")

// Schedules is the scheduled audit service as the console needs it (ServiceSchedules is the real one).
type Schedules interface {
	ListSchedules(ctx context.Context) ([]Schedule, error)
	GetSchedule(ctx context.Context, id int64) (Schedule, error)
	CreateSchedule(ctx context.Context, in ScheduleInput) (Schedule, error)
	UpdateSchedule(ctx context.Context, id int64, in ScheduleInput) (Schedule, error)
	// NextRuns are the next n run times after after.
	NextRuns(cron, timeZone string, after time.Time, n int) ([]time.Time, error)
	// RunNow starts an audit of the schedule's config now, on behalf of by, and names the run.
	RunNow(ctx context.Context, id int64, by string) (string, error)
	// Configs names the audit configs a schedule can run.
	Configs(ctx context.Context) ([]string, error)
}

type schedulesData struct {
	Available bool
	Schedules []scheduleRow
	Flash     string
	Error     string
}

func (h *Handler) schedulesPage(w http.ResponseWriter, r *http.Request) {
	d := schedulesData{Available: h.cfg.Schedules != nil, Flash: r.URL.Query().Get("saved")}
	if d.Flash != "" {
		d.Flash = localeFor(r).Tf("Saved schedule %s.", d.Flash)
	}
	if s := r.URL.Query().Get("started"); s != "" {
		d.Flash = localeFor(r).Tf("Started audit run %s for schedule %s.", s, r.URL.Query().Get("schedule"))
	}
	if h.cfg.Schedules != nil {
		ss, err := h.cfg.Schedules.ListSchedules(r.Context())
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		for _, s := range ss {
			d.Schedules = append(d.Schedules, scheduleRow{Schedule: s, NextIn: localeFor(r).TimeIn(s.NextRun.In(s.location()))})
		}
	}
	h.render(w, r, http.StatusOK, "schedules", "Schedules", d)
}

type scheduleFormData struct {
	ID       int64
	In       ScheduleInput
	Configs  []string
	Next     []string
	Zone     string
	Error    string
	Fragment bool
}

func (h *Handler) noSchedules(w http.ResponseWriter, r *http.Request) bool {
	if h.cfg.Schedules == nil {
		h.errorPage(w, r, http.StatusNotFound, localeFor(r).T("The schedule service is not available in this server: schedules cannot be shown or changed here."))
		return true
	}
	return false
}

func (h *Handler) scheduleForm(w http.ResponseWriter, r *http.Request) {
	if h.noSchedules(w, r) {
		return
	}
	d := scheduleFormData{In: ScheduleInput{Cron: "@quarterly", TimeZone: "Europe/Oslo", Enabled: true}}
	if r.PathValue("id") != "" {
		s, ok := h.requestedSchedule(w, r)
		if !ok {
			return
		}
		d.ID, d.In = s.ID, ScheduleInput{Config: s.Config, Cron: s.Cron, TimeZone: s.TimeZone, Enabled: s.Enabled}
	}
	d.Next, d.Zone, d.Error = h.preview(localeFor(r), d.In)
	h.showForm(w, r, http.StatusOK, d)
}

func (h *Handler) showForm(w http.ResponseWriter, r *http.Request, status int, d scheduleFormData) {
	cs, err := h.cfg.Schedules.Configs(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d.Configs = cs
	title := "New schedule"
	if d.ID > 0 {
		title = "Edit schedule"
	}
	h.render(w, r, status, "scheduleform", title, d)
}

func readScheduleForm(w http.ResponseWriter, r *http.Request) (ScheduleInput, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return ScheduleInput{}, err
	}
	f := r.PostForm
	return ScheduleInput{Config: f.Get("config"),
		Cron: strings.TrimSpace(f.Get("cron")), TimeZone: strings.TrimSpace(f.Get("tz")), Enabled: f.Get("enabled") == "on"}, nil
}

// preview computes the next four runs of a form's schedule in its time zone, or says what is wrong.
func (h *Handler) preview(l locale, in ScheduleInput) ([]string, string, string) {
	loc, err := time.LoadLocation(in.TimeZone)
	if err != nil || in.TimeZone == "" {
		return nil, "", l.Tf("Time zone %q is not known.", in.TimeZone)
	}
	runs, err := h.cfg.Schedules.NextRuns(in.Cron, in.TimeZone, h.cfg.Now(), 4)
	if err != nil {
		return nil, "", l.Tf("Invalid schedule: %s", err)
	}
	var out []string
	for _, t := range runs {
		out = append(out, l.TimeIn(t.In(loc)))
	}
	return out, loc.String(), ""
}

// schedulePreview answers the form's "show next runs" (htmx swaps the list in as the fields change).
func (h *Handler) schedulePreview(w http.ResponseWriter, r *http.Request) {
	if h.noSchedules(w, r) {
		return
	}
	in, err := readScheduleForm(w, r)
	if err != nil {
		h.errorPage(w, r, http.StatusBadRequest, localeFor(r).T("The form could not be read."))
		return
	}
	d := scheduleFormData{In: in, Fragment: true}
	d.Next, d.Zone, d.Error = h.preview(localeFor(r), in)
	h.render(w, r, http.StatusOK, "nextruns", "Next four runs", d)
}

func (h *Handler) scheduleSubmit(w http.ResponseWriter, r *http.Request) {
	if h.noSchedules(w, r) {
		return
	}
	l := localeFor(r)
	in, err := readScheduleForm(w, r)
	if err != nil {
		h.errorPage(w, r, http.StatusBadRequest, l.T("The form could not be read."))
		return
	}
	d := scheduleFormData{In: in}
	if s := r.PathValue("id"); s != "" {
		if d.ID, err = strconv.ParseInt(s, 10, 64); err != nil {
			h.notFound(w, r)
			return
		}
	}
	d.Next, d.Zone, d.Error = h.preview(l, in)
	if d.Error == "" && in.Config == "" {
		d.Error = l.T("Choose an audit config.")
	}
	// Without JavaScript the form's "show next runs" button posts here: show them, save nothing.
	if d.Error != "" || r.PostForm.Get("action") == "preview" {
		status := http.StatusOK
		if d.Error != "" {
			status = http.StatusUnprocessableEntity
		}
		h.showForm(w, r, status, d)
		return
	}
	var s Schedule
	if d.ID > 0 {
		s, err = h.cfg.Schedules.UpdateSchedule(r.Context(), d.ID, in)
	} else {
		s, err = h.cfg.Schedules.CreateSchedule(r.Context(), in)
	}
	if err != nil {
		if errors.Is(err, ErrInvalidSchedule) {
			d.Error = l.Tf("Not saved: %s", err)
			h.showForm(w, r, http.StatusUnprocessableEntity, d)
			return
		}
		h.notFoundOr500(w, r, err)
		return
	}
	h.cfg.Logger.Info("console: schedule saved", "schedule", s.ID, "by", userOf(r).Subject)
	http.Redirect(w, r, "/schedules?saved="+urlQuery(s.Name()), http.StatusSeeOther)
}

func (h *Handler) runNow(w http.ResponseWriter, r *http.Request) {
	if h.noSchedules(w, r) {
		return
	}
	s, ok := h.requestedSchedule(w, r)
	if !ok {
		return
	}
	run, err := h.cfg.Schedules.RunNow(r.Context(), s.ID, userOf(r).Subject)
	if err != nil {
		h.errorPage(w, r, http.StatusConflict, localeFor(r).Tf("Could not start: %s", err))
		return
	}
	h.cfg.Logger.Info("console: audit started", "schedule", s.ID, "run", run, "by", userOf(r).Subject)
	http.Redirect(w, r, "/schedules?started="+urlQuery(run)+"&schedule="+urlQuery(s.Name()), http.StatusSeeOther)
}

// requestedSchedule is the schedule the request's path names; when there is none it has answered 404
// (or 500 when the database failed) and returns false.
func (h *Handler) requestedSchedule(w http.ResponseWriter, r *http.Request) (Schedule, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.notFound(w, r)
		return Schedule{}, false
	}
	s, err := h.cfg.Schedules.GetSchedule(r.Context(), id)
	if err != nil {
		h.notFoundOr500(w, r, err)
		return Schedule{}, false
	}
	return s, true
}

func urlQuery(s string) string { return url.QueryEscape(s) }
