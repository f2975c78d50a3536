package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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
	if a.StartedAt.IsZero() {
		a.StartedAt = time.Now()
	}
	rows, err := s.pool.Query(ctx, `
		INSERT INTO audits (kind, organisation, period_start, period_end, started_at, tool_version, rules_version, config)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
		a.Kind, a.Organisation, a.PeriodStart, a.PeriodEnd, pgTime(a.StartedAt), a.ToolVersion, a.RulesVersion, cfg)
	if err != nil {
		return Audit{}, fmt.Errorf("create audit: %w", err)
	}
	au, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Audit])
	if err != nil {
		return Audit{}, fmt.Errorf("create audit: %w", err)
	}
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

// FinishAudit sets the final status. A finished audit takes no more evidence.
func (s *Store) FinishAudit(ctx context.Context, id int64, status AuditStatus, at time.Time) error {
	if !status.Final() {
		return fmt.Errorf("finish audit %d: status %q is not final", id, status)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE audits SET status = $2, finished_at = $3 WHERE id = $1 AND status = $4`,
		id, status, pgTime(at), StatusRunning)
	if err != nil {
		return fmt.Errorf("finish audit %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.GetAudit(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("finish audit %d: %w", id, ErrAuditFinished)
	}
	return nil
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

// RecordStep appends a step outcome to an audit.
func (s *Store) RecordStep(ctx context.Context, st Step) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_steps (audit_id, step, status, message, started_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, st.AuditID, st.Step, st.Status, st.Message, pgTime(st.StartedAt), pgTime(st.FinishedAt))
	if err != nil {
		return fmt.Errorf("record step %s of audit %d: %w", st.Step, st.AuditID, err)
	}
	return nil
}

// Steps returns an audit's steps in order.
func (s *Store) Steps(ctx context.Context, auditID int64) ([]Step, error) {
	rows, err := s.pool.Query(ctx, `SELECT * FROM audit_steps WHERE audit_id = $1 ORDER BY id`, auditID)
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
