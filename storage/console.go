package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reads and session rows for the web console (package console). The evidence readers load a whole audit;
// the console pages an audit with ten thousand findings, so these filter and page in SQL.

// FindingFilter narrows FindingsPage. Empty slices match everything.
type FindingFilter struct {
	Verdicts   []string // stored verdict words; "" selects findings without a verdict
	Severities []string
	Rules      []string
	// Compliant, when set, keeps findings whose rule judged the subject compliant (true) or not (false);
	// findings that make no such judgement are then left out.
	Compliant *bool
	// AfterSeq pages: only findings later in the chain (a larger seq).
	AfterSeq int64
	// Limit defaults to 100 and is capped at 1000.
	Limit int
}

// FindingsPage returns one page of an audit's findings matching f, in chain order, and whether more follow.
func (s *Store) FindingsPage(ctx context.Context, auditID int64, f FindingFilter) ([]Finding, bool, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	// Only the conditions in use go into the query, so the planner walks (audit_id, seq) for a page.
	q := `SELECT id, audit_id, seq, prev_hash, hash, subject, rule_id, legal_reference, severity, verdict, compliant,
		summary, evidence, created_at FROM findings WHERE audit_id = $1 AND seq > $2`
	args := []any{auditID, f.AfterSeq}
	add := func(cond string, v any) {
		args = append(args, v)
		q += fmt.Sprintf(cond, len(args))
	}
	if len(f.Verdicts) > 0 {
		add(" AND verdict = ANY($%d)", f.Verdicts)
	}
	if len(f.Severities) > 0 {
		add(" AND severity = ANY($%d)", f.Severities)
	}
	if len(f.Rules) > 0 {
		add(" AND rule_id = ANY($%d)", f.Rules)
	}
	if f.Compliant != nil {
		add(" AND compliant = $%d", *f.Compliant)
	}
	add(" ORDER BY seq LIMIT $%d", f.Limit+1)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("findings of audit %d: %w", auditID, err)
	}
	out, err := pgx.CollectRows(rows, scanFinding)
	if err != nil {
		return nil, false, fmt.Errorf("findings of audit %d: %w", auditID, err)
	}
	more := len(out) > f.Limit
	if more {
		out = out[:f.Limit]
	}
	return out, more, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func scanFinding(r pgx.CollectableRow) (Finding, error) {
	var f Finding
	err := r.Scan(&f.ID, &f.AuditID, &f.Seq, &f.PrevHash, &f.Hash, &f.Subject, &f.RuleID, &f.LegalReference,
		&f.Severity, &f.Verdict, &f.Compliant, &f.Summary, &f.Evidence, &f.CreatedAt)
	return f, err
}

// FindingCount is how many of an audit's findings share a verdict, severity, rule and compliance
// judgement (nil: the rule made none).
type FindingCount struct {
	Verdict, Severity, RuleID string
	Compliant                 *bool
	Count                     int64
}

// FindingCounts groups an audit's findings by verdict, severity and rule: the facets of the console's
// filter and its totals.
func (s *Store) FindingCounts(ctx context.Context, auditID int64) ([]FindingCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT verdict, severity, rule_id, compliant, count(*) FROM findings
		WHERE audit_id = $1 GROUP BY verdict, severity, rule_id, compliant ORDER BY rule_id, verdict, severity`, auditID)
	if err != nil {
		return nil, fmt.Errorf("finding counts of audit %d: %w", auditID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FindingCount, error) {
		var c FindingCount
		err := r.Scan(&c.Verdict, &c.Severity, &c.RuleID, &c.Compliant, &c.Count)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("finding counts of audit %d: %w", auditID, err)
	}
	return out, nil
}

// FindingsByRule returns an audit's findings of one rule, in chain order (the console's map reads the
// store-level findings this way without loading the rest).
func (s *Store) FindingsByRule(ctx context.Context, auditID int64, ruleID string) ([]Finding, error) {
	fs, _, err := s.FindingsPage(ctx, auditID, FindingFilter{Rules: []string{ruleID}, Limit: 1000})
	return fs, err
}

// AuditSeal returns the log leaf that seals an audit, or an error wrapping ErrNotFound when it is not
// sealed.
func (s *Store) AuditSeal(ctx context.Context, auditID int64) (LogLeaf, error) {
	var l LogLeaf
	err := s.pool.QueryRow(ctx, `SELECT idx, kind, audit_id, report_id, data, created_at FROM log_leaves
		WHERE audit_id = $1 AND kind = 'audit'`, auditID).Scan(&l.Idx, &l.Kind, &l.AuditID, &l.ReportID, &l.Data, &l.CreatedAt)
	if err != nil {
		return LogLeaf{}, notFound(err, fmt.Sprintf("seal of audit %d", auditID))
	}
	return l, nil
}

// LogSize is the number of leaves in the evidence log.
func (s *Store) LogSize(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM log_leaves`).Scan(&n); err != nil {
		return 0, fmt.Errorf("log size: %w", err)
	}
	return n, nil
}

// ConsoleSession is a signed-in console user: who, with which scopes, until when. The secret that names
// it lives only in the user's cookie.
type ConsoleSession struct {
	// TokenRef identifies the API token the session was made from (never the token itself).
	TokenRef  string
	Subject   string
	Scopes    []string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ErrSessionExpired is returned for a session past its expiry.
var ErrSessionExpired = errors.New("session expired")

func sessionKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateConsoleSession stores a session under the sha256 of secret.
func (s *Store) CreateConsoleSession(ctx context.Context, secret string, cs ConsoleSession) error {
	if len(secret) < 32 {
		return errors.New("console session: secret too short")
	}
	if !cs.ExpiresAt.After(cs.CreatedAt) {
		return fmt.Errorf("console session: expires at %v, not after it is created (%v)", cs.ExpiresAt, cs.CreatedAt)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO console_sessions (id_sha256, token_ref, subject, scopes, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, sessionKey(secret), cs.TokenRef, cs.Subject, nonNil(cs.Scopes),
		pgTime(cs.CreatedAt), pgTime(cs.ExpiresAt))
	if err != nil {
		return fmt.Errorf("console session: %w", err)
	}
	return nil
}

// ConsoleSession returns the session named by secret as of now: ErrNotFound when there is none,
// ErrSessionExpired (and the row deleted) when it has expired.
func (s *Store) ConsoleSession(ctx context.Context, secret string, now time.Time) (ConsoleSession, error) {
	var cs ConsoleSession
	key := sessionKey(secret)
	err := s.pool.QueryRow(ctx, `SELECT token_ref, subject, scopes, created_at, expires_at FROM console_sessions
		WHERE id_sha256 = $1`, key).Scan(&cs.TokenRef, &cs.Subject, &cs.Scopes, &cs.CreatedAt, &cs.ExpiresAt)
	if err != nil {
		return ConsoleSession{}, notFound(err, "console session")
	}
	if !now.Before(cs.ExpiresAt) {
		if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE id_sha256 = $1`, key); err != nil {
			return ConsoleSession{}, fmt.Errorf("console session: %w", err)
		}
		return ConsoleSession{}, ErrSessionExpired
	}
	return cs, nil
}

// DeleteConsoleSession ends a session (sign-out). Ending one that does not exist is not an error.
func (s *Store) DeleteConsoleSession(ctx context.Context, secret string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE id_sha256 = $1`, sessionKey(secret)); err != nil {
		return fmt.Errorf("console session: %w", err)
	}
	return nil
}

// SweepConsoleSessions deletes sessions expired as of now and returns how many.
func (s *Store) SweepConsoleSessions(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1`, pgTime(now))
	if err != nil {
		return 0, fmt.Errorf("console sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}
