package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/storage"
)

// Agents is what the agents page reads, and the revocation it offers admins. *storage.Store implements
// it; RevokeAgent is the very call `varde agent revoke` makes.
type Agents interface {
	AgentOverview(ctx context.Context, now time.Time) ([]storage.AgentView, []storage.VantageView, error)
	AgentReportBody(ctx context.Context, kind string, id int64) ([]byte, error)
	RevokeAgent(ctx context.Context, id int64, now time.Time) error
}

// AgentStatus is whether an agent can take its vantage's work now.
type AgentStatus string

// Agent statuses: live agents were heard from within Config.AgentStaleAfter.
const (
	AgentLive      AgentStatus = "live"
	AgentStale     AgentStatus = "stale"
	AgentNeverSeen AgentStatus = "never seen"
	AgentRevoked   AgentStatus = "revoked"
)

func (s AgentStatus) mark() mark {
	switch s {
	case AgentLive:
		return mark{"✔", string(s), "good"}
	case AgentStale:
		return mark{"⚠", string(s), "warn"}
	case AgentRevoked:
		return mark{"⊘", string(s), "unsure"}
	}
	return mark{"○", string(s), "warn"}
}

// ClockState is an agent's clock synchronisation as it last reported it (kernel adjtimex, as chrony or
// ntpd leave it).
type ClockState string

// Clock states.
const (
	ClockSynced      ClockState = "synchronised"
	ClockUnsynced    ClockState = "not synchronised"
	ClockUnavailable ClockState = "unavailable" // the agent could not read it
	ClockUnreported  ClockState = "not reported yet"
)

func (c ClockState) mark() mark {
	switch c {
	case ClockSynced:
		return mark{"✔", string(c), "good"}
	case ClockUnsynced:
		return mark{"⚠", string(c), "warn"}
	}
	return mark{"?", string(c), "unsure"}
}

// VantageState is whether an audit now could measure from a vantage.
type VantageState string

// Vantage states: without a live agent an audit records the vantage as vantage_unavailable.
const (
	VantageCovered   VantageState = "has a live agent"
	VantageUncovered VantageState = "no live agent"
)

func (v VantageState) mark() mark {
	if v == VantageCovered {
		return mark{"✔", string(v), "good"}
	}
	return mark{"✖", string(v), "bad"}
}

// taskMark shows an audit task's state; an unavailable one is what the audit recorded as
// vantage_unavailable.
func taskMark(state string) mark {
	switch state {
	case storage.TaskDone:
		return mark{"✔", "measured", "good"}
	case storage.TaskUnavailable:
		return mark{"✖", "vantage_unavailable", "bad"}
	case storage.TaskLeased:
		return mark{"…", "measuring", "unsure"}
	}
	return mark{"…", "waiting for an agent", "unsure"}
}

type agentRow struct {
	ID                 int64
	Vantage, Name      string
	Version, Enrolled  string // Enrolled: the version it enrolled with, when it now reports another
	Status             AgentStatus
	Mark               mark
	LastSeen           string // absolute, or empty for never
	LastSeenAgo        string
	Clock              ClockState
	ClockMark          mark
	ClockDetail        string
	ClockKernel        string // the raw adjtimex state and status, for whoever checks
	ClockAt            string
	EnrolledAt         string
	RevokedAt          string
	CanRevoke, Revoked bool
}

type vantageRow struct {
	Name           string
	Live, Total    int
	State          VantageState
	Mark           mark
	LastTask       *storage.AgentTask
	TaskMark       mark
	Monitor        string
	OpenEnrolments int
}

type agentsData struct {
	Available  bool
	StaleAfter string
	Vantages   []vantageRow
	Agents     []agentRow
	Uncovered  []string
	Flash      string
}

// agentSays is what an agent's latest signed body says of the agent itself.
type agentSays struct {
	Version string
	Clock   *agentwire.Clock
}

// readAgentHead reads the agent's version and clock state from the start of a result or summary body,
// stopping before the samples; ok is false when the head ended first.
func readAgentHead(b []byte) (agentSays, bool) {
	var s agentSays
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return s, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return s, false
		}
		switch t {
		case "agent_version":
			err = dec.Decode(&s.Version)
		case "clock":
			s.Clock = new(agentwire.Clock)
			err = dec.Decode(s.Clock)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return s, false
		}
		if s.Version != "" && s.Clock != nil {
			return s, true
		}
	}
	_, err := dec.Token() // the closing brace: the whole body was there
	return s, err == nil
}

func (h *Handler) noAgents(w http.ResponseWriter, r *http.Request) bool {
	if h.cfg.Agents == nil {
		h.errorPage(w, r, http.StatusNotFound, localeFor(r).T("Remote agents are not available in this server."))
		return true
	}
	return false
}

func (h *Handler) agentsPage(w http.ResponseWriter, r *http.Request) {
	l := localeFor(r)
	d := agentsData{Available: h.cfg.Agents != nil, StaleAfter: fmtAgo(l, h.cfg.AgentStaleAfter)}
	if s := r.URL.Query().Get("revoked"); s != "" {
		d.Flash = l.Tf("Agent %s revoked: its requests are refused from now on.", s)
	}
	if d.Available {
		var err error
		if d.Vantages, d.Agents, err = h.agentOverview(r.Context(), l, userOf(r).Can(ScopeTokensAdmin)); err != nil {
			h.serverError(w, r, err)
			return
		}
		for _, v := range d.Vantages {
			if v.State == VantageUncovered {
				d.Uncovered = append(d.Uncovered, v.Name)
			}
		}
	}
	h.render(w, r, http.StatusOK, "agents", "Agents", d)
}

func (h *Handler) agentOverview(ctx context.Context, l locale, admin bool) ([]vantageRow, []agentRow, error) {
	now := h.cfg.Now()
	avs, vvs, err := h.cfg.Agents.AgentOverview(ctx, now)
	if err != nil {
		return nil, nil, err
	}
	live := map[string]int{}
	total := map[string]int{}
	rows := make([]agentRow, 0, len(avs))
	for _, a := range avs {
		row, err := h.agentRow(ctx, l, a, now)
		if err != nil {
			return nil, nil, err
		}
		row.CanRevoke = admin && !row.Revoked
		rows = append(rows, row)
		if !row.Revoked {
			total[a.Vantage]++
		}
		if row.Status == AgentLive {
			live[a.Vantage]++
		}
	}
	vs := make([]vantageRow, 0, len(vvs))
	for _, v := range vvs {
		vr := vantageRow{Name: v.Name, Live: live[v.Name], Total: total[v.Name], LastTask: v.LastTask, OpenEnrolments: v.OpenEnrolments,
			State: VantageUncovered}
		if vr.Live > 0 {
			vr.State = VantageCovered
		}
		vr.Mark = vr.State.mark()
		if v.LastTask != nil {
			vr.TaskMark = taskMark(v.LastTask.State)
		}
		if v.MonitorInterval > 0 {
			vr.Monitor = l.Tf("every %s", fmtAgo(l, v.MonitorInterval))
		}
		vs = append(vs, vr)
	}
	return vs, rows, nil
}

func (h *Handler) agentRow(ctx context.Context, l locale, a storage.AgentView, now time.Time) (agentRow, error) {
	row := agentRow{ID: a.ID, Vantage: a.Vantage, Name: a.Name, Version: a.Version, EnrolledAt: l.Time(a.EnrolledAt)}
	// Heard from: a lease (last_seen), or the result or summary it last sent.
	var heard time.Time
	if a.LastSeen != nil {
		heard = *a.LastSeen
	}
	if a.ReportAt != nil && a.ReportAt.After(heard) {
		heard = *a.ReportAt
	}
	switch {
	case a.RevokedAt != nil:
		row.Status, row.Revoked, row.RevokedAt = AgentRevoked, true, l.Time(*a.RevokedAt)
	case heard.IsZero():
		row.Status = AgentNeverSeen
	case now.Sub(heard) <= h.cfg.AgentStaleAfter:
		row.Status = AgentLive
	default:
		row.Status = AgentStale
	}
	row.Mark = row.Status.mark()
	if !heard.IsZero() {
		row.LastSeen = l.Time(heard)
		if d := now.Sub(heard); d < 0 {
			row.LastSeenAgo = l.T("ahead of this server's clock")
		} else {
			row.LastSeenAgo = l.Tf("%s ago", fmtAgo(l, d))
		}
	}
	row.Clock = ClockUnreported
	if a.ReportKind != "" {
		says, ok := readAgentHead(a.ReportHead)
		if !ok && len(a.ReportHead) < a.ReportSize {
			// An agent that wrote its clock late in the body: read all of it.
			body, err := h.cfg.Agents.AgentReportBody(ctx, a.ReportKind, a.ReportID)
			if err != nil {
				return row, fmt.Errorf("agent %d: %w", a.ID, err)
			}
			says, _ = readAgentHead(body)
		}
		if says.Version != "" && says.Version != a.Version {
			row.Version, row.Enrolled = says.Version, a.Version
		}
		row.ClockAt = l.Time(*a.ReportAt)
		switch c := says.Clock; {
		case c == nil:
		case c.Source != "adjtimex":
			row.Clock, row.ClockDetail = ClockUnavailable, c.Err
		default:
			row.Clock = ClockUnsynced
			if c.Synced {
				row.Clock = ClockSynced
			}
			row.ClockDetail = l.Tf("maximum error %s, estimated error %s", fmtMicros(c.MaxErrorUS), fmtMicros(c.EstErrorUS))
			row.ClockKernel = l.Tf("adjtimex state %d, status %#x", c.State, c.Status)
		}
	}
	row.ClockMark = row.Clock.mark()
	return row, nil
}

func fmtMicros(us int64) string {
	switch {
	case us < 1000:
		return strconv.FormatInt(us, 10) + " µs"
	case us < 1_000_000:
		return strconv.FormatFloat(float64(us)/1000, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(float64(us)/1e6, 'f', 2, 64) + " s"
}

// fmtAgo is a coarse duration for people: the largest unit only.
func fmtAgo(l locale, d time.Duration) string {
	switch {
	case d < 90*time.Second:
		return l.Tf("%d s", int(d.Seconds()))
	case d < 90*time.Minute:
		return l.Tf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return l.Tf("%d h", int(d.Hours()))
	}
	return l.Tf("%d days", int(d.Hours()/24))
}

type agentRevokeData struct {
	Agent agentRow
}

// agentRevokeForm asks before revoking: a revocation is final.
func (h *Handler) agentRevokeForm(w http.ResponseWriter, r *http.Request) {
	if h.noAgents(w, r) {
		return
	}
	row, ok := h.findAgent(w, r)
	if !ok {
		return
	}
	if row.Revoked {
		h.errorPage(w, r, http.StatusConflict, localeFor(r).Tf("Agent %d is already revoked, since %s.", row.ID, row.RevokedAt))
		return
	}
	h.render(w, r, http.StatusOK, "agentrevoke", "Revoke agent", agentRevokeData{Agent: row})
}

func (h *Handler) findAgent(w http.ResponseWriter, r *http.Request) (agentRow, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.notFound(w, r)
		return agentRow{}, false
	}
	_, rows, err := h.agentOverview(r.Context(), localeFor(r), true)
	if err != nil {
		h.serverError(w, r, err)
		return agentRow{}, false
	}
	for _, a := range rows {
		if a.ID == id {
			return a, true
		}
	}
	h.notFound(w, r)
	return agentRow{}, false
}

func (h *Handler) agentRevoke(w http.ResponseWriter, r *http.Request) {
	if h.noAgents(w, r) {
		return
	}
	l := localeFor(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.notFound(w, r)
		return
	}
	if err := h.cfg.Agents.RevokeAgent(r.Context(), id, h.cfg.Now()); err != nil {
		switch {
		case errors.Is(err, storage.ErrAgentRevoked):
			h.errorPage(w, r, http.StatusConflict, l.Tf("Not revoked: %s", err))
		default:
			h.notFoundOr500(w, r, err)
		}
		return
	}
	h.cfg.Logger.Info("console: agent revoked", "agent", id, "by", userOf(r).Subject, "token", userOf(r).TokenRef)
	http.Redirect(w, r, "/agents?revoked="+strconv.FormatInt(id, 10), http.StatusSeeOther)
}
