package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Audit kinds.
const (
	KindQuarterly       = "quarterly"
	KindAdHoc           = "ad_hoc"
	KindSalesComparison = "sales_comparison"
)

// AuditStatus is where an audit stands; the audits table accepts exactly the constants below.
type AuditStatus string

// Audit statuses.
const (
	StatusRunning   AuditStatus = "running"
	StatusSucceeded AuditStatus = "succeeded"
	StatusPartial   AuditStatus = "partial" // finished, but a step failed
	StatusFailed    AuditStatus = "failed"
	// StatusInterrupted: the run was stopped before it finished (a signal, a lost database, a process
	// that is gone); what it stored before then is kept and verifies, but the audit is incomplete.
	StatusInterrupted AuditStatus = "interrupted"
)

// Final reports whether an audit in this status is closed: it takes no more evidence and never changes.
func (s AuditStatus) Final() bool {
	switch s {
	case StatusSucceeded, StatusPartial, StatusFailed, StatusInterrupted:
		return true
	}
	return false
}

// Complete reports whether the audit ran every step to its end (a failed step is on record in a
// complete audit); an interrupted or failed audit is incomplete and its reports must say so.
func (s AuditStatus) Complete() bool { return s == StatusSucceeded || s == StatusPartial }

// Audit is one run of varde.
type Audit struct {
	ID           int64           `db:"id" json:"id"`
	Kind         string          `db:"kind" json:"kind"`
	Organisation string          `db:"organisation" json:"organisation"`
	PeriodStart  *time.Time      `db:"period_start" json:"period_start,omitempty"`
	PeriodEnd    *time.Time      `db:"period_end" json:"period_end,omitempty"`
	Status       AuditStatus     `db:"status" json:"status"`
	StartedAt    time.Time       `db:"started_at" json:"started_at"`
	FinishedAt   *time.Time      `db:"finished_at" json:"finished_at,omitempty"`
	ToolVersion  string          `db:"tool_version" json:"tool_version"`
	RulesVersion string          `db:"rules_version" json:"rules_version"`
	Config       json.RawMessage `db:"config" json:"config"`
	ChainLength  int64           `db:"chain_length" json:"chain_length"`
	ChainHead    []byte          `db:"chain_head" json:"chain_head"`
	// CanonicalForm is how the audit's chain rows are encoded for hashing: FormGo or FormJCS.
	CanonicalForm int `db:"canonical_form" json:"canonical_form"`
}

// NewAudit is what CreateAudit needs.
type NewAudit struct {
	Kind         string
	Organisation string
	PeriodStart  *time.Time
	PeriodEnd    *time.Time
	StartedAt    time.Time
	ToolVersion  string
	RulesVersion string
	Config       json.RawMessage
	// Header is put in the chain at seq 0 (its ConfigSHA256 is filled in). Required.
	Header *Header
	// RunID, when set, is the service's audit run this audit is for: the run is linked to the audit in
	// the transaction that creates it, so a run retried after a crash finds its audit, never a second.
	RunID int64
}

// CreateAudit starts a new audit in status running.
func (s *Store) CreateAudit(ctx context.Context, a NewAudit) (Audit, error) {
	switch a.Kind {
	case KindQuarterly, KindAdHoc, KindSalesComparison:
	default:
		return Audit{}, fmt.Errorf("audit kind %q: want quarterly, ad_hoc or sales_comparison", a.Kind)
	}
	cfg, err := normJSON(a.Config)
	if err != nil {
		return Audit{}, fmt.Errorf("audit config: %w", err)
	}
	if a.Header == nil {
		return Audit{}, errors.New("create audit: no header: an audit's chain starts with what it claims")
	}
	if a.StartedAt.IsZero() {
		a.StartedAt = time.Now()
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Audit{}, fmt.Errorf("create audit: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `
		INSERT INTO audits (kind, organisation, period_start, period_end, started_at, tool_version, rules_version, config, canonical_form)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
		a.Kind, a.Organisation, a.PeriodStart, a.PeriodEnd, pgTime(a.StartedAt), a.ToolVersion, a.RulesVersion, cfg, FormJCS)
	if err != nil {
		return Audit{}, fmt.Errorf("create audit: %w", err)
	}
	au, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Audit])
	if err != nil {
		return Audit{}, fmt.Errorf("create audit: %w", err)
	}
	claims, err := au.claims()
	if err != nil {
		return Audit{}, err
	}
	h := *a.Header
	h.ConfigSHA256 = claims["config_sha256"].(string)
	body, err := marshalNoHTML(h)
	if err != nil {
		return Audit{}, fmt.Errorf("create audit: header: %w", err)
	}
	if body, err = normJSON(body); err != nil {
		return Audit{}, fmt.Errorf("create audit: header: %w", err)
	}
	c := &chainTx{tx: tx, auditID: au.ID, form: FormJCS, head: au.ChainHead}
	if err := c.appendEntry(ctx, &Entry{Kind: EntryHeader, Body: body}, claims); err != nil {
		return Audit{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE audits SET chain_length = $2, chain_head = $3 WHERE id = $1`, au.ID, c.length, c.head); err != nil {
		return Audit{}, fmt.Errorf("create audit: %w", err)
	}
	if a.RunID != 0 {
		tag, err := tx.Exec(ctx, `UPDATE audit_runs SET audit_id = $2 WHERE id = $1 AND audit_id IS NULL AND status = 'running'`, a.RunID, au.ID)
		if err != nil {
			return Audit{}, fmt.Errorf("create audit: link run %d: %w", a.RunID, translate(err))
		}
		if tag.RowsAffected() != 1 {
			return Audit{}, fmt.Errorf("create audit: run %d is not running or already has an audit: %w", a.RunID, ErrConflict)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return Audit{}, fmt.Errorf("create audit: commit: %w", err)
	}
	au.ChainLength, au.ChainHead = c.length, c.head
	return au, nil
}

// GetAudit returns one audit or an error wrapping ErrNotFound.
func (s *Store) GetAudit(ctx context.Context, id int64) (Audit, error) {
	return getAudit(ctx, s.pool, id)
}

func getAudit(ctx context.Context, q querier, id int64) (Audit, error) {
	rows, err := q.Query(ctx, `SELECT * FROM audits WHERE id = $1`, id)
	if err != nil {
		return Audit{}, fmt.Errorf("audit %d: %w", id, err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Audit])
	if err != nil {
		return Audit{}, notFound(err, fmt.Sprintf("audit %d", id))
	}
	return a, nil
}

// ListAudits returns every audit, newest first.
func (s *Store) ListAudits(ctx context.Context) ([]Audit, error) {
	rows, err := s.pool.Query(ctx, `SELECT * FROM audits ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list audits: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[Audit])
}

// finishTimeout bounds writing a final status once the caller's context is cancelled.
const finishTimeout = 10 * time.Second

// FinishAudit sets the final status. A finished audit takes no more evidence. The write outlives the
// cancellation of ctx (bounded by finishTimeout): a run stopped by a signal must still close its audit
// rather than leave it running.
func (s *Store) FinishAudit(ctx context.Context, id int64, status AuditStatus, at time.Time) error {
	if !status.Final() {
		return fmt.Errorf("finish audit %d: status %q is not final", id, status)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	a, err := s.GetAudit(ctx, id)
	if err != nil {
		return err
	}
	if a.CanonicalForm == FormGo {
		tag, err := s.pool.Exec(ctx, `UPDATE audits SET status = $2, finished_at = $3 WHERE id = $1 AND status = $4`,
			id, status, pgTime(at), StatusRunning)
		if err != nil {
			return fmt.Errorf("finish audit %d: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("finish audit %d: %w", id, ErrAuditFinished)
		}
		return nil
	}
	// The finish is the last entry of the chain, written with the status in one transaction.
	body, err := json.Marshal(finishBody{Status: string(status), FinishedAt: canonTime(at)})
	if err != nil {
		return fmt.Errorf("finish audit %d: %w", id, err)
	}
	return s.withChain(ctx, id, func(c *chainTx) error {
		c.finish, c.finished = status, pgTime(at)
		return c.appendEntry(ctx, &Entry{Kind: EntryFinish, Body: body}, nil)
	})
}

// Step records what happened to one step of an audit.
type Step struct {
	ID         int64     `db:"id" json:"id"`
	AuditID    int64     `db:"audit_id" json:"audit_id"`
	Step       string    `db:"step" json:"step"`
	Status     string    `db:"status" json:"status"` // a job.StepStatus: succeeded, failed or skipped
	Message    string    `db:"message" json:"message"`
	StartedAt  time.Time `db:"started_at" json:"started_at"`
	FinishedAt time.Time `db:"finished_at" json:"finished_at"`
}

// RecordStep appends a step outcome to an audit. While a FormJCS audit runs, the step is also an entry
// of its chain, written in the same transaction; a step recorded after the audit finished (making its
// reports) is outside the chain, and the reports it makes are leaves of the log.
func (s *Store) RecordStep(ctx context.Context, st Step) error {
	st.StartedAt, st.FinishedAt = pgTime(st.StartedAt), pgTime(st.FinishedAt)
	a, err := s.GetAudit(ctx, st.AuditID)
	if err != nil {
		return fmt.Errorf("record step %s: %w", st.Step, err)
	}
	insert := func(ctx context.Context, q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}) error {
		_, err := q.Exec(ctx, `INSERT INTO audit_steps (audit_id, step, status, message, started_at, finished_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, st.AuditID, st.Step, st.Status, st.Message, st.StartedAt, st.FinishedAt)
		if err != nil {
			return fmt.Errorf("record step %s of audit %d: %w", st.Step, st.AuditID, err)
		}
		return nil
	}
	if a.CanonicalForm == FormGo || a.Status != StatusRunning {
		return insert(ctx, s.pool)
	}
	body, err := json.Marshal(stepBodyOf(st))
	if err != nil {
		return fmt.Errorf("record step %s of audit %d: %w", st.Step, st.AuditID, err)
	}
	return s.withChain(ctx, st.AuditID, func(c *chainTx) error {
		if err := insert(ctx, c.tx); err != nil {
			return err
		}
		return c.appendEntry(ctx, &Entry{Kind: EntryStep, Body: body}, nil)
	})
}

// Steps returns an audit's steps in order.
func (s *Store) Steps(ctx context.Context, auditID int64) ([]Step, error) {
	return steps(ctx, s.pool, auditID)
}

func steps(ctx context.Context, q querier, auditID int64) ([]Step, error) {
	rows, err := q.Query(ctx, `SELECT * FROM audit_steps WHERE audit_id = $1 ORDER BY id`, auditID)
	if err != nil {
		return nil, fmt.Errorf("steps of audit %d: %w", auditID, err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[Step])
}

// Report is a signed PDF made from a stored audit.
type Report struct {
	ID                int64     `db:"id" json:"id"`
	AuditID           int64     `db:"audit_id" json:"audit_id"`
	Kind              string    `db:"kind" json:"kind"` // compliance or sales
	Path              string    `db:"path" json:"path"`
	SHA256            string    `db:"sha256" json:"sha256"`
	SignerFingerprint string    `db:"signer_fingerprint" json:"signer_fingerprint"`
	CreatedAt         time.Time `db:"created_at" json:"created_at"`
}

// AddReport records a signed report.
func (s *Store) AddReport(ctx context.Context, r Report) (Report, error) {
	rows, err := s.pool.Query(ctx, `INSERT INTO reports (audit_id, kind, path, sha256, signer_fingerprint, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`, r.AuditID, r.Kind, r.Path, r.SHA256, r.SignerFingerprint, pgTime(r.CreatedAt))
	if err != nil {
		return Report{}, fmt.Errorf("add report for audit %d: %w", r.AuditID, err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Report])
	if err != nil {
		return Report{}, fmt.Errorf("add report for audit %d: %w", r.AuditID, err)
	}
	return out, nil
}

// Reports lists an audit's reports.
func (s *Store) Reports(ctx context.Context, auditID int64) ([]Report, error) {
	rows, err := s.pool.Query(ctx, `SELECT * FROM reports WHERE audit_id = $1 ORDER BY id`, auditID)
	if err != nil {
		return nil, fmt.Errorf("reports of audit %d: %w", auditID, err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[Report])
}
