package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Entry kinds: the chain rows of a FormJCS audit that are not measurements, observations, check
// results or findings.
const (
	EntryHeader = "header" // seq 0: what the audit claims
	EntryStep   = "step"   // one step's outcome
	EntryFinish = "finish" // the final status and time
	// EntryMonitoring is, for one vantage, the agents' monitoring summaries over the audited period as
	// the audit relied on them (job.MonitoringEntry): a record of its own, like the header.
	EntryMonitoring = "monitoring"
)

// Entry is a header, step or finish row of an audit's chain.
type Entry struct {
	Chain
	Kind string          `json:"kind"`
	Body json.RawMessage `json:"body"`
}

// Header is what an audit claims besides its audits row, put in its chain at seq 0. Every file the
// audit relied on is named with its sha256, so a report can be tied to the exact inputs.
type Header struct {
	Vantages []HeaderVantage `json:"vantages"`
	// ConfigSHA256 is computed by CreateAudit: sha256 of the config's RFC 8785 encoding.
	ConfigSHA256 string `json:"config_sha256"`
	// Build is the tool's build: version, VCS revision, Go version.
	Build map[string]string `json:"build"`
	// RulesSHA256 is sha256 of the residency rules table's content.
	RulesSHA256     string      `json:"rules_sha256"`
	InventorySHA256 string      `json:"inventory_sha256,omitempty"`
	Inventory       string      `json:"inventory,omitempty"`
	Files           []InputFile `json:"files"` // GeoIP databases, cloud range files
	// Run is set when the scheduled audit service ran the audit: which run, planned for when, and
	// whether it started late.
	Run *HeaderRun `json:"run,omitempty"`
}

// HeaderRun is the service's run of an audit as the audit claims it.
type HeaderRun struct {
	ID         int64  `json:"id"`
	ConfigName string `json:"config_name"`
	// ConfigVersion is the uploaded config's version; the config itself is in the audits row.
	ConfigVersion int    `json:"config_version"`
	ScheduleID    *int64 `json:"schedule_id,omitempty"`
	PlannedAt     string `json:"planned_at"` // RFC 3339, UTC
	// Late: the run started well after its planned time, because the service was down then.
	Late bool `json:"late"`
	// Missed counts later planned times that also passed while the service was down; this run stands
	// for them.
	Missed int `json:"missed,omitempty"`
}

// HeaderVantage is a vantage as the audit used it, with its coordinates.
type HeaderVantage struct {
	Name      string  `json:"name"`
	City      string  `json:"city"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Network   string  `json:"network"`
	ASN       int64   `json:"asn,omitempty"`
}

// InputFile is a reference file an audit read.
type InputFile struct {
	Kind      string `json:"kind"` // geoip, cloud_ranges or rtt
	Path      string `json:"path"`
	SHA256    string `json:"sha256"`
	BuildDate string `json:"build_date,omitempty"` // RFC 3339, when the file says
}

func entries(ctx context.Context, q querier, auditID int64) ([]Entry, error) {
	rows, err := q.Query(ctx, `SELECT id, audit_id, seq, prev_hash, hash, kind, body FROM audit_entries
		WHERE audit_id = $1 ORDER BY seq`, auditID)
	if err != nil {
		return nil, fmt.Errorf("entries of audit %d: %w", auditID, err)
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.ID, &e.AuditID, &e.Seq, &e.PrevHash, &e.Hash, &e.Kind, &e.Body)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("entries of audit %d: %w", auditID, err)
	}
	return es, nil
}

// Entries returns an audit's header, step and finish entries in chain order.
func (s *Store) Entries(ctx context.Context, auditID int64) ([]Entry, error) {
	return entries(ctx, s.pool, auditID)
}

func (e *Entry) canonical(form int, claims map[string]any) ([]byte, error) {
	body, err := canonJSON(form, e.Body)
	if err != nil {
		return nil, err
	}
	fields := map[string]any{"table": "audit_entries", "audit_id": e.AuditID, "seq": e.Seq, "kind": e.Kind, "body": body}
	if claims != nil {
		fields["audit"] = claims
	}
	return encode(form, fields)
}

// claims are the audits row's own fields that its header entry commits to.
func (a *Audit) claims() (map[string]any, error) {
	cfg, err := canonJSON(FormJCS, a.Config)
	if err != nil {
		return nil, fmt.Errorf("audit %d config: %w", a.ID, err)
	}
	cj, err := JCS(cfg)
	if err != nil {
		return nil, fmt.Errorf("audit %d config: %w", a.ID, err)
	}
	day := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Format(time.DateOnly)
	}
	sum := sha256.Sum256(cj)
	return map[string]any{
		"kind": a.Kind, "organisation": a.Organisation, "period_start": day(a.PeriodStart), "period_end": day(a.PeriodEnd),
		"started_at": canonTime(a.StartedAt), "tool_version": a.ToolVersion, "rules_version": a.RulesVersion,
		"config_sha256": hexOf(sum[:]), "canonical_form": a.CanonicalForm,
	}, nil
}

type stepBody struct {
	Step       string `json:"step"`
	Status     string `json:"status"`
	Message    string `json:"message"`
	StartedAt  string `json:"started_at"`
	FinishedAt string `json:"finished_at"`
}

func stepBodyOf(st Step) stepBody {
	return stepBody{Step: st.Step, Status: st.Status, Message: st.Message, StartedAt: canonTime(st.StartedAt), FinishedAt: canonTime(st.FinishedAt)}
}

type finishBody struct {
	Status     string `json:"status"`
	FinishedAt string `json:"finished_at"`
}

// entryRows turns an audit's entries into chain rows, checking that they say what the audits and
// audit_steps rows say: the header commits to the audit's claims, each step entry to one audit_steps
// row (in order; steps recorded after the audit finished, such as making its reports, are outside the
// chain and in the log instead), the finish entry to the status and finish time.
func (a *Audit) entryRows(es []Entry, steps []Step) ([]chainRow, string) {
	var rows []chainRow
	nstep := 0
	for i := range es {
		e := &es[i]
		name := fmt.Sprintf("audit_entries row %d (seq %d, %s)", e.ID, e.Seq, e.Kind)
		var want []byte
		switch e.Kind {
		case EntryHeader:
			claims, err := a.claims()
			if err != nil {
				return nil, name + ": " + err.Error()
			}
			rows = append(rows, chainRow{table: "audit_entries", ch: &e.Chain, canon: func(form int) ([]byte, error) {
				return e.canonical(form, claims)
			}})
			// The header's body names the config's hash too; it must be the stored config's.
			var h Header
			if err := json.Unmarshal(e.Body, &h); err != nil {
				return nil, name + ": " + err.Error()
			}
			if h.ConfigSHA256 != claims["config_sha256"] {
				return nil, fmt.Sprintf("%s: the header names config sha256 %s, the audit's stored config hashes to %s (the config was rewritten)",
					name, h.ConfigSHA256, claims["config_sha256"])
			}
			continue
		case EntryMonitoring:
			rows = append(rows, chainRow{table: "audit_entries", ch: &e.Chain, canon: func(form int) ([]byte, error) { return e.canonical(form, nil) }})
			continue
		case EntryStep:
			if nstep >= len(steps) {
				return nil, name + ": no audit_steps row matches it (a step row was deleted)"
			}
			want, _ = json.Marshal(stepBodyOf(steps[nstep]))
			nstep++
		case EntryFinish:
			var finished time.Time
			if a.FinishedAt != nil {
				finished = *a.FinishedAt
			}
			want, _ = json.Marshal(finishBody{Status: string(a.Status), FinishedAt: canonTime(finished)})
		default:
			return nil, name + ": unknown kind"
		}
		if !sameJSON(want, e.Body) {
			return nil, fmt.Sprintf("%s: says %s, but the %s says %s (one of them was rewritten)", name, e.Body,
				map[string]string{EntryStep: "audit_steps row", EntryFinish: "audits row"}[e.Kind], want)
		}
		rows = append(rows, chainRow{table: "audit_entries", ch: &e.Chain, canon: func(form int) ([]byte, error) { return e.canonical(form, nil) }})
	}
	return rows, ""
}

func sameJSON(a, b []byte) bool {
	x, err1 := canonJSON(FormJCS, a)
	y, err2 := canonJSON(FormJCS, b)
	if err1 != nil || err2 != nil {
		return false
	}
	cx, err1 := JCS(x)
	cy, err2 := JCS(y)
	return err1 == nil && err2 == nil && bytes.Equal(cx, cy)
}

// appendEntry links and inserts one entry.
func (c *chainTx) appendEntry(ctx context.Context, e *Entry, claims map[string]any) error {
	if err := c.link(&e.Chain, func(form int) ([]byte, error) { return e.canonical(form, claims) }); err != nil {
		return err
	}
	err := c.tx.QueryRow(ctx, `INSERT INTO audit_entries (audit_id, seq, prev_hash, hash, kind, body)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, e.AuditID, e.Seq, e.PrevHash, e.Hash, e.Kind, e.Body).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("audit %d: insert %s entry: %w", c.auditID, e.Kind, err)
	}
	return nil
}
