package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/job"
	"github.com/varde/varde/reports"
	"github.com/varde/varde/storage"
)

// mark is a status shown as a symbol, a word and a colour class, so colour is never the only signal.
type mark struct {
	Symbol, Word, Class string
}

func verdictMark(v reports.Verdict) mark {
	switch v {
	case reports.VerdictViolation:
		return mark{"✖", string(v), "bad"}
	case reports.VerdictWarning:
		return mark{"⚠", string(v), "warn"}
	case reports.VerdictCompliant, reports.VerdictPass:
		return mark{"✔", string(v), "good"}
	}
	return mark{"?", string(v), "unsure"}
}

func auditStatusMark(s storage.AuditStatus) mark {
	switch s {
	case storage.StatusSucceeded:
		return mark{"✔", string(s), "good"}
	case storage.StatusPartial:
		return mark{"◐", string(s), "warn"}
	case storage.StatusFailed:
		return mark{"✖", string(s), "bad"}
	case storage.StatusInterrupted:
		return mark{"■", string(s), "bad"}
	}
	return mark{"…", string(s), "unsure"}
}

func stepMark(s string) mark {
	switch job.StepStatus(s) {
	case job.StepSucceeded:
		return mark{"✔", s, "good"}
	case job.StepFailed:
		return mark{"✖", s, "bad"}
	}
	return mark{"–", s, "unsure"}
}

func storeStatusMark(s residency.Status) mark {
	switch s {
	case residency.StatusCompliant:
		return mark{"✔", "compliant", "good"}
	case residency.StatusNotCompliant:
		return mark{"✖", "not compliant", "bad"}
	}
	return mark{"?", "not shown compliant", "unsure"}
}

// headline counts an audit's data stores by status, from its store-level findings.
type headline struct {
	Stores                                     int
	Compliant, NotCompliant, NotShownCompliant int
}

func (h headline) Mark() mark {
	switch {
	case h.Stores == 0:
		return mark{"–", "no data stores judged", "unsure"}
	case h.NotCompliant > 0:
		return mark{"✖", "not compliant", "bad"}
	case h.NotShownCompliant > 0:
		return mark{"?", "not shown compliant", "unsure"}
	}
	return mark{"✔", "compliant", "good"}
}

func (h *Handler) storeViews(r *http.Request, auditID int64) ([]job.StoreView, headline, error) {
	fs, err := h.cfg.Evidence.FindingsByRule(r.Context(), auditID, residency.RuleStore)
	if err != nil {
		return nil, headline{}, err
	}
	var out []job.StoreView
	var hl headline
	for _, f := range fs {
		sv, err := job.StoreViewOf(f)
		if err != nil {
			return nil, hl, err
		}
		out = append(out, sv)
		hl.Stores++
		switch sv.Status {
		case residency.StatusCompliant:
			hl.Compliant++
		case residency.StatusNotCompliant:
			hl.NotCompliant++
		default:
			hl.NotShownCompliant++
		}
	}
	return out, hl, nil
}

func auditID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// auditRow is an audit in a list, with its headline and what is failing in it.
type auditRow struct {
	storage.Audit
	Status   mark
	Headline headline
	HasHead  bool
}

func (h *Handler) auditRow(r *http.Request, a storage.Audit, withHeadline bool) (auditRow, error) {
	row := auditRow{Audit: a, Status: auditStatusMark(a.Status)}
	if withHeadline {
		_, hl, err := h.storeViews(r, a.ID)
		if err != nil {
			return row, err
		}
		row.Headline, row.HasHead = hl, true
	}
	return row, nil
}

func (a auditRow) Failing() bool {
	return a.Audit.Status == storage.StatusFailed || a.Audit.Status == storage.StatusPartial ||
		a.Audit.Status == storage.StatusInterrupted || a.Headline.NotCompliant > 0
}

type dashboardData struct {
	SchedulesAvailable bool
	Schedules          []scheduleRow
	Latest             []auditRow
	Failing            []auditRow
}

type scheduleRow struct {
	Schedule
	Last    *auditRow
	NextIn  string
	Problem string
}

func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := dashboardData{SchedulesAvailable: h.cfg.Schedules != nil}
	if h.cfg.Schedules != nil {
		ss, err := h.cfg.Schedules.ListSchedules(ctx)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		for _, s := range ss {
			row := scheduleRow{Schedule: s, NextIn: localeFor(r).TimeIn(s.NextRun.In(s.location()))}
			if s.LastAuditID > 0 {
				a, err := h.cfg.Evidence.GetAudit(ctx, s.LastAuditID)
				if err == nil {
					ar, err := h.auditRow(r, a, true)
					if err != nil {
						h.serverError(w, r, err)
						return
					}
					row.Last = &ar
				} else if !isNotFound(err) {
					h.serverError(w, r, err)
					return
				}
			}
			if s.LastRun == string(storage.RunFailed) || s.LastRun == string(storage.RunInterrupted) {
				row.Problem = s.LastRun
				if s.LastRunError != "" {
					row.Problem += ": " + s.LastRunError
				}
			}
			d.Schedules = append(d.Schedules, row)
		}
	}
	as, _, err := h.cfg.Evidence.AuditPage(ctx, storage.AuditFilter{Limit: 20})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	for i, a := range as {
		ar, err := h.auditRow(r, a, true)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		if i < 5 {
			d.Latest = append(d.Latest, ar)
		}
		if ar.Failing() {
			d.Failing = append(d.Failing, ar)
		}
	}
	h.render(w, r, http.StatusOK, "dashboard", "Dashboard", d)
}

type auditsData struct {
	Filter                     storage.AuditFilter
	From, Before, Status, Kind string
	Statuses, Kinds            []string
	Audits                     []auditRow
	Error                      string
	Limit                      int
	More                       bool
}

func (h *Handler) auditsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	l := localeFor(r)
	d := auditsData{Status: q.Get("status"), Kind: q.Get("kind"), From: q.Get("from"), Before: q.Get("before"), Limit: 100,
		Statuses: []string{string(storage.StatusRunning), string(storage.StatusSucceeded), string(storage.StatusPartial),
			string(storage.StatusFailed), string(storage.StatusInterrupted)},
		Kinds: []string{storage.KindQuarterly, storage.KindAdHoc, storage.KindSalesComparison}}
	f := storage.AuditFilter{Organisation: q.Get("organisation"), Limit: d.Limit}
	if slices.Contains(d.Statuses, d.Status) {
		f.Status = storage.AuditStatus(d.Status)
	}
	if slices.Contains(d.Kinds, d.Kind) {
		f.Kind = d.Kind
	}
	status := http.StatusOK
	var from, before time.Time
	for _, p := range []struct {
		s  string
		to *time.Time
	}{{d.From, &from}, {d.Before, &before}} {
		if p.s == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", p.s)
		if err != nil {
			d.Error, status = l.Tf("A date is not in the form YYYY-MM-DD: %s", p.s), http.StatusBadRequest
			continue
		}
		*p.to = t
	}
	if !from.IsZero() {
		f.StartedAfter = &from
	}
	if !before.IsZero() {
		f.StartedBefore = &before
	}
	d.Filter = f
	if d.Error == "" {
		as, more, err := h.cfg.Evidence.AuditPage(r.Context(), f)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		for _, a := range as {
			ar, err := h.auditRow(r, a, true)
			if err != nil {
				h.serverError(w, r, err)
				return
			}
			d.Audits = append(d.Audits, ar)
		}
		d.More = more
	}
	h.render(w, r, status, "audits", "Audits", d)
}

// findingRow is one finding as shown: the report's verdict word and symbol beside the rule's own words.
type findingRow struct {
	storage.Finding
	Verdict  mark
	Evidence string
}

const evidenceShown = 16 << 10

func findingRowOf(f storage.Finding) (findingRow, error) {
	v, err := job.ReportVerdict(f)
	if err != nil {
		return findingRow{}, err
	}
	row := findingRow{Finding: f, Verdict: verdictMark(v)}
	var buf bytes.Buffer
	if json.Indent(&buf, f.Evidence, "", "  ") != nil {
		buf.Reset()
		buf.Write(f.Evidence)
	}
	row.Evidence = buf.String()
	if len(row.Evidence) > evidenceShown {
		row.Evidence = row.Evidence[:evidenceShown] + "\n…"
	}
	return row, nil
}

type facet struct {
	Value, Label string
	Count        int64
	Checked      bool
}

type auditData struct {
	Audit    auditRow
	Steps    []stepRow
	Verdicts []facet
	Sevs     []facet
	Rules    []facet
	Comp     string
	Total    int64
	Matching int64
	Findings []findingRow
	NextURL  string
	Stores   []job.StoreView
}

type stepRow struct {
	storage.Step
	Mark mark
}

func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request) {
	a, ok := h.requestedAudit(w, r)
	if !ok {
		return
	}
	ctx, id := r.Context(), a.ID
	ar, err := h.auditRow(r, a, true)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d := auditData{Audit: ar}
	steps, err := h.cfg.Evidence.Steps(ctx, id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	for _, s := range steps {
		d.Steps = append(d.Steps, stepRow{s, stepMark(s.Status)})
	}
	q := r.URL.Query()
	// An empty rule is the form's "any"; an empty verdict is a real choice (findings without one).
	f := storage.FindingFilter{Verdicts: q["verdict"], Severities: nonEmpty(q["severity"]), Rules: nonEmpty(q["rule"]), Limit: 100}
	if v := q.Get("after"); v != "" {
		f.AfterSeq, _ = strconv.ParseInt(v, 10, 64)
	}
	switch d.Comp = q.Get("compliant"); d.Comp {
	case "yes":
		f.Compliant = new(true)
	case "no":
		f.Compliant = new(false)
	default:
		d.Comp = ""
	}
	counts, err := h.findingCounts(ctx, a)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d.Verdicts, d.Sevs, d.Rules, d.Total, d.Matching = facets(counts, f)
	fs, more, err := h.cfg.Evidence.FindingsPage(ctx, id, f)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	for _, fi := range fs {
		row, err := findingRowOf(fi)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		d.Findings = append(d.Findings, row)
	}
	if more {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("after", strconv.FormatInt(fs[len(fs)-1].Seq, 10))
		d.NextURL = fmt.Sprintf("/audits/%d?%s#findings", id, nq.Encode())
	}
	h.render(w, r, http.StatusOK, "audit", "Audit", d)
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// facets turns the grouped counts into the filter's choices, each with how many findings it has, and
// counts the findings that match the filter.
func facets(counts []storage.FindingCount, f storage.FindingFilter) (verdicts, sevs, rules []facet, total, matching int64) {
	add := func(list []facet, v string, n int64, chosen []string) []facet {
		for i := range list {
			if list[i].Value == v {
				list[i].Count += n
				return list
			}
		}
		label := v
		if v == "" {
			label = "(no verdict)"
		}
		return append(list, facet{Value: v, Label: label, Count: n, Checked: slices.Contains(chosen, v)})
	}
	for _, sev := range []reports.Severity{reports.SeverityCritical, reports.SeverityHigh, reports.SeverityMedium,
		reports.SeverityLow, reports.SeverityInfo} {
		sv := string(sev)
		sevs = append(sevs, facet{Value: sv, Label: sv, Checked: slices.Contains(f.Severities, sv)})
	}
	for _, c := range counts {
		total += c.Count
		verdicts = add(verdicts, c.Verdict, c.Count, f.Verdicts)
		sevs = add(sevs, c.Severity, c.Count, f.Severities)
		rules = add(rules, c.RuleID, c.Count, f.Rules)
		if (len(f.Verdicts) == 0 || slices.Contains(f.Verdicts, c.Verdict)) &&
			(len(f.Severities) == 0 || slices.Contains(f.Severities, c.Severity)) &&
			(len(f.Rules) == 0 || slices.Contains(f.Rules, c.RuleID)) &&
			(f.Compliant == nil || (c.Compliant != nil && *c.Compliant == *f.Compliant)) {
			matching += c.Count
		}
	}
	return verdicts, sevs, rules, total, matching
}

type chainData struct {
	Audit        storage.Audit
	CheckedAt    time.Time
	SealMatches  bool
	CPConfigured bool
	CPHolds      bool
	Report       storage.ChainReport
	Sealed       bool
	Seal         storage.LogLeaf
	LogSize      int64
	Checkpoint   *evidencelog.Checkpoint
	RootB64      string
	CPError      string
	Fragment     bool
}

func (h *Handler) chainPage(w http.ResponseWriter, r *http.Request) {
	a, ok := h.requestedAudit(w, r)
	if !ok {
		return
	}
	ctx, id := r.Context(), a.ID
	rep, checked, err := h.verifyChain(ctx, a, r.URL.Query().Get("fresh") != "")
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d := chainData{Audit: a, Report: rep, CheckedAt: checked, Fragment: r.Header.Get("HX-Request") == "true"}
	seal, err := h.cfg.Evidence.AuditSeal(ctx, id)
	switch {
	case err == nil:
		d.Sealed, d.Seal = true, seal
		if d.LogSize, err = h.cfg.Evidence.LogSize(ctx); err != nil {
			h.serverError(w, r, err)
			return
		}
		// The seal must say what the chain recomputed now says.
		if rep.OK() {
			want, err := storage.SealLeafData(a, rep)
			if err != nil {
				h.serverError(w, r, err)
				return
			}
			d.SealMatches = bytes.Equal(want, seal.Data)
		}
		if h.cfg.CheckpointDir != "" && h.cfg.LogKey != nil {
			d.CPConfigured = true
			if err := h.checkpoint(ctx, &d); err != nil {
				h.serverError(w, r, err)
				return
			}
		}
	case !isNotFound(err):
		h.serverError(w, r, err)
		return
	}
	name := "chain"
	if d.Fragment {
		name = "chainfrag"
	}
	h.render(w, r, http.StatusOK, name, "Evidence chain", d)
}

// checkpoint finds the newest signed checkpoint that covers the audit's seal and checks that the log the
// database holds grew from it: its first Size leaves hash to the signed root.
func (h *Handler) checkpoint(ctx context.Context, d *chainData) error {
	cps, _, err := evidencelog.ReadDir(h.cfg.CheckpointDir, h.cfg.LogKey)
	if err != nil {
		d.CPError = err.Error()
		return nil
	}
	for i := range cps {
		if cps[i].Size > d.Seal.Idx {
			d.Checkpoint = &cps[i]
		}
	}
	if d.Checkpoint == nil {
		return nil
	}
	d.RootB64 = base64.StdEncoding.EncodeToString(d.Checkpoint.Root[:])
	leaves, err := h.cfg.Evidence.LogLeaves(ctx)
	if err != nil {
		return err
	}
	data := make([][]byte, len(leaves))
	for i, l := range leaves {
		data[i] = l.Data
	}
	tree, err := evidencelog.Build(data)
	if err != nil {
		return err
	}
	if err := tree.CheckAgainst(*d.Checkpoint); err != nil {
		d.CPError = err.Error()
		return nil
	}
	d.CPHolds = true
	return nil
}

// auditCache keeps something computed from a finished audit, keyed by the audit's recorded chain length
// and head, for ChainCheckTTL. Recomputing an audit's ten thousand chain hashes takes seconds; its
// findings' counts take tens of milliseconds, and a finished audit takes no more evidence. The chain page
// says when the chain was checked and offers to check again.
type auditCache[T any] struct {
	mu sync.Mutex
	m  map[int64]cached[T]
}

type cached[T any] struct {
	length int64
	head   []byte
	v      T
	at     time.Time
}

func (c *auditCache[T]) get(a storage.Audit, now time.Time, ttl time.Duration) (T, time.Time, bool) {
	c.mu.Lock()
	e, ok := c.m[a.ID]
	c.mu.Unlock()
	if ok && a.Status.Final() && e.length == a.ChainLength && bytes.Equal(e.head, a.ChainHead) && now.Sub(e.at) < ttl && !now.Before(e.at) {
		return e.v, e.at, true
	}
	var zero T
	return zero, time.Time{}, false
}

func (c *auditCache[T]) put(a storage.Audit, v T, now time.Time) {
	if !a.Status.Final() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int64]cached[T]{}
	}
	c.m[a.ID] = cached[T]{length: a.ChainLength, head: a.ChainHead, v: v, at: now}
}

// verifyChain is Verify of a, or its cached result unless fresh.
func (h *Handler) verifyChain(ctx context.Context, a storage.Audit, fresh bool) (storage.ChainReport, time.Time, error) {
	now := h.cfg.Now()
	if rep, at, ok := h.chains.get(a, now, h.cfg.ChainCheckTTL); ok && !fresh {
		return rep, at, nil
	}
	rep, err := h.cfg.Evidence.Verify(ctx, a.ID)
	if err != nil {
		return rep, now, err
	}
	h.chains.put(a, rep, now)
	return rep, now, nil
}

// findingCounts is FindingCounts of a, cached.
func (h *Handler) findingCounts(ctx context.Context, a storage.Audit) ([]storage.FindingCount, error) {
	now := h.cfg.Now()
	if v, _, ok := h.counts.get(a, now, h.cfg.ChainCheckTTL); ok {
		return v, nil
	}
	v, err := h.cfg.Evidence.FindingCounts(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	h.counts.put(a, v, now)
	return v, nil
}

// requestedAudit is the audit the request's path names; when there is none it has answered 404 (or 500
// when the database failed) and returns false.
func (h *Handler) requestedAudit(w http.ResponseWriter, r *http.Request) (storage.Audit, bool) {
	id, ok := auditID(r)
	if !ok {
		h.notFound(w, r)
		return storage.Audit{}, false
	}
	a, err := h.cfg.Evidence.GetAudit(r.Context(), id)
	if err != nil {
		h.notFoundOr500(w, r, err)
		return storage.Audit{}, false
	}
	return a, true
}
