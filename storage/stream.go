package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The readers below serve the API: a page of audits at a time, and an audit's evidence rows handed to a
// callback one by one as the database returns them, so a client reading a long audit costs one row (one
// measurement with its samples) of memory, not the audit.

// AuditFilter selects a page of audits, newest first.
type AuditFilter struct {
	Status        AuditStatus // empty: any
	Kind          string      // empty: any
	Organisation  string      // empty: any
	StartedAfter  *time.Time  // started at or after
	StartedBefore *time.Time  // started before
	// BeforeID continues a listing: only audits with a smaller ID (the cursor). 0: from the newest.
	BeforeID int64
	// Limit bounds the page. Required, 1 to 1000.
	Limit int
}

// AuditPage lists audits by filter, newest first. More reports whether audits follow the page.
func (s *Store) AuditPage(ctx context.Context, f AuditFilter) (audits []Audit, more bool, err error) {
	if f.Limit < 1 || f.Limit > 1000 {
		return nil, false, fmt.Errorf("list audits: limit %d: want 1 to 1000", f.Limit)
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Status != "" {
		add("status = $%d", f.Status)
	}
	if f.Kind != "" {
		add("kind = $%d", f.Kind)
	}
	if f.Organisation != "" {
		add("organisation = $%d", f.Organisation)
	}
	if f.StartedAfter != nil {
		add("started_at >= $%d", *f.StartedAfter)
	}
	if f.StartedBefore != nil {
		add("started_at < $%d", *f.StartedBefore)
	}
	if f.BeforeID > 0 {
		add("id < $%d", f.BeforeID)
	}
	q := `SELECT * FROM audits`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit+1)
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("list audits: %w", err)
	}
	audits, err = pgx.CollectRows(rows, pgx.RowToStructByName[Audit])
	if err != nil {
		return nil, false, fmt.Errorf("list audits: %w", err)
	}
	if len(audits) > f.Limit {
		return audits[:f.Limit], true, nil
	}
	return audits, false, nil
}

// eachRow runs q in a read-only REPEATABLE READ transaction after checking that the audit exists (a
// missing one is an error wrapping ErrNotFound, before fn sees any row), and calls scan for every row.
func (s *Store) eachRow(ctx context.Context, auditID int64, what, q string, scan func(pgx.Rows) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("%s of audit %d: begin: %w", what, auditID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM audits WHERE id = $1`, auditID).Scan(&one); err != nil {
		return notFound(err, fmt.Sprintf("audit %d", auditID))
	}
	rows, err := tx.Query(ctx, q, auditID)
	if err != nil {
		return fmt.Errorf("%s of audit %d: %w", what, auditID, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s of audit %d: %w", what, auditID, err)
	}
	return nil
}

// EachFinding calls fn with each of an audit's findings in chain order.
func (s *Store) EachFinding(ctx context.Context, auditID int64, fn func(*Finding) error) error {
	var f Finding
	return s.eachRow(ctx, auditID, "findings", `SELECT id, audit_id, seq, prev_hash, hash, subject, rule_id,
		legal_reference, severity, verdict, compliant, summary, evidence, created_at FROM findings WHERE audit_id = $1 ORDER BY seq`,
		func(r pgx.Rows) error {
			f = Finding{}
			if err := r.Scan(&f.ID, &f.AuditID, &f.Seq, &f.PrevHash, &f.Hash, &f.Subject, &f.RuleID, &f.LegalReference,
				&f.Severity, &f.Verdict, &f.Compliant, &f.Summary, &f.Evidence, &f.CreatedAt); err != nil {
				return fmt.Errorf("findings of audit %d: %w", auditID, err)
			}
			return fn(&f)
		})
}

// EachObservation calls fn with each of an audit's observations in chain order.
func (s *Store) EachObservation(ctx context.Context, auditID int64, fn func(*Observation) error) error {
	var o Observation
	return s.eachRow(ctx, auditID, "observations", `SELECT id, audit_id, seq, prev_hash, hash, subject, host, address, source,
		database_type, database_path, build_epoch, file_sha256, located_country, registered_country,
		represented_country, anycast, details, observed_at FROM geo_observations WHERE audit_id = $1 ORDER BY seq`,
		func(r pgx.Rows) error {
			o = Observation{}
			var epoch *time.Time
			if err := r.Scan(&o.ID, &o.AuditID, &o.Seq, &o.PrevHash, &o.Hash, &o.Subject, &o.Host, &o.Address, &o.Source,
				&o.DatabaseType, &o.DatabasePath, &epoch, &o.FileSHA256, &o.LocatedCountry, &o.RegisteredCountry,
				&o.RepresentedCountry, &o.Anycast, &o.Details, &o.ObservedAt); err != nil {
				return fmt.Errorf("observations of audit %d: %w", auditID, err)
			}
			if epoch != nil {
				o.BuildEpoch = *epoch
			}
			return fn(&o)
		})
}

// EachCheckResult calls fn with each of an audit's guest check results in chain order.
func (s *Store) EachCheckResult(ctx context.Context, auditID int64, fn func(*CheckResult) error) error {
	var c CheckResult
	return s.eachRow(ctx, auditID, "check results", `SELECT id, audit_id, seq, prev_hash, hash, host, check_id, title,
		category, result, observed, expected, remediation, details, checked_at FROM check_results WHERE audit_id = $1 ORDER BY seq`,
		func(r pgx.Rows) error {
			c = CheckResult{}
			if err := r.Scan(&c.ID, &c.AuditID, &c.Seq, &c.PrevHash, &c.Hash, &c.Host, &c.CheckID, &c.Title, &c.Category,
				&c.Result, &c.Observed, &c.Expected, &c.Remediation, &c.Details, &c.CheckedAt); err != nil {
				return fmt.Errorf("check results of audit %d: %w", auditID, err)
			}
			return fn(&c)
		})
}

// EachMeasurement calls fn with each of an audit's measurements in chain order, each with its samples.
// One query returns measurements joined to their samples in order; a measurement is handed over when
// the next one begins, so only one measurement's samples are held at a time.
func (s *Store) EachMeasurement(ctx context.Context, auditID int64, fn func(*Measurement) error) error {
	var cur *Measurement
	err := s.eachRow(ctx, auditID, "measurements", `SELECT m.id, m.audit_id, m.seq, m.prev_hash, m.hash, m.vantage,
		m.target, m.address, m.port, m.probe_kind, m.sent, m.received, m.duplicates, m.failure, m.started_at,
		m.finished_at, m.tool, m.tool_version, m.stats, m.samples_sha256,
		s.idx, s.sent_at, s.rtt_ns, s.kernel_rtt_ns, s.duplicate, s.retransmits
		FROM measurements m LEFT JOIN measurement_samples s ON s.measurement_id = m.id
		WHERE m.audit_id = $1 ORDER BY m.seq, s.idx`,
		func(r pgx.Rows) error {
			var (
				m          Measurement
				idx, retry *int32
				sentAt     *time.Time
				rtt, krtt  *int64
				dup        *bool
			)
			if err := r.Scan(&m.ID, &m.AuditID, &m.Seq, &m.PrevHash, &m.Hash, &m.Vantage, &m.Target, &m.Address, &m.Port,
				&m.ProbeKind, &m.Sent, &m.Received, &m.Duplicates, &m.Failure, &m.StartedAt, &m.FinishedAt, &m.Tool,
				&m.ToolVersion, &m.Stats, &m.SamplesSHA256, &idx, &sentAt, &rtt, &krtt, &dup, &retry); err != nil {
				return fmt.Errorf("measurements of audit %d: %w", auditID, err)
			}
			if cur == nil || cur.ID != m.ID {
				if cur != nil {
					if err := fn(cur); err != nil {
						return err
					}
				}
				m.Samples = []Sample{}
				cur = &m
			}
			if idx == nil {
				return nil // a measurement without samples
			}
			sm := Sample{Idx: int(*idx), SentAt: *sentAt, Duplicate: *dup, Retransmits: int(*retry)}
			if rtt != nil {
				sm.Received, sm.RTT = true, time.Duration(*rtt)
			}
			if krtt != nil {
				sm.KernelRTT = time.Duration(*krtt)
			}
			cur.Samples = append(cur.Samples, sm)
			return nil
		})
	if err != nil {
		return err
	}
	if cur != nil {
		return fn(cur)
	}
	return nil
}

// GetReport returns one report record or an error wrapping ErrNotFound.
func (s *Store) GetReport(ctx context.Context, id int64) (Report, error) {
	rows, err := s.pool.Query(ctx, `SELECT * FROM reports WHERE id = $1`, id)
	if err != nil {
		return Report{}, fmt.Errorf("report %d: %w", id, err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Report])
	if err != nil {
		return Report{}, notFound(err, fmt.Sprintf("report %d", id))
	}
	return r, nil
}
