package storage

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LogLeaf is one leaf of the evidence log: a sealed audit's head or a report's digest, as canonical JSON.
type LogLeaf struct {
	Idx       int64
	Kind      string // audit or report
	AuditID   int64
	ReportID  *int64
	Data      []byte
	CreatedAt time.Time
}

// logLock serialises appends to the log (an advisory lock: the writer role may not LOCK TABLE).
const logLock = 7_011_011

// SealLeafData is the leaf a sealed audit becomes: its id, canonical form, chain length and head.
func SealLeafData(a Audit, rep ChainReport) ([]byte, error) {
	return JCS(map[string]any{"type": "varde.audit", "audit_id": a.ID, "canonical_form": a.CanonicalForm,
		"chain_length": rep.Rows, "head": hexOf(rep.Head)})
}

// SealAudit makes a finished audit's chain head a leaf of the log, after recomputing its chain. Sealing
// an audit twice is an error; an audit from before the log (form 1) is sealed like any other.
func (s *Store) SealAudit(ctx context.Context, auditID int64, now time.Time) (LogLeaf, error) {
	a, err := s.GetAudit(ctx, auditID)
	if err != nil {
		return LogLeaf{}, err
	}
	if a.Status == StatusRunning {
		return LogLeaf{}, fmt.Errorf("seal audit %d: it is still running", auditID)
	}
	rep, err := s.Verify(ctx, auditID)
	if err != nil {
		return LogLeaf{}, err
	}
	if err := rep.Err(); err != nil {
		return LogLeaf{}, fmt.Errorf("seal: %w", err)
	}
	data, err := SealLeafData(a, rep)
	if err != nil {
		return LogLeaf{}, fmt.Errorf("seal audit %d: %w", auditID, err)
	}
	seal, err := s.appendLeaf(ctx, LogLeaf{Kind: "audit", AuditID: auditID, Data: data, CreatedAt: pgTime(now)})
	if err != nil {
		return LogLeaf{}, err
	}
	// Reports made before the log existed (audits from older binaries) follow their audit in.
	rs, err := s.Reports(ctx, auditID)
	if err != nil {
		return seal, err
	}
	for _, r := range rs {
		if _, err := s.LogReport(ctx, r, now); err != nil {
			return seal, err
		}
	}
	return seal, nil
}

// ReportLeafData is the leaf a report becomes.
func ReportLeafData(r Report) ([]byte, error) {
	return JCS(map[string]any{"type": "varde.report", "audit_id": r.AuditID, "report_id": r.ID, "kind": r.Kind,
		"sha256": r.SHA256, "signer_fingerprint": r.SignerFingerprint, "created_at": canonTime(r.CreatedAt)})
}

// LogReport makes a stored report a leaf of the log.
func (s *Store) LogReport(ctx context.Context, r Report, now time.Time) (LogLeaf, error) {
	data, err := ReportLeafData(r)
	if err != nil {
		return LogLeaf{}, fmt.Errorf("report %d: %w", r.ID, err)
	}
	id := r.ID
	return s.appendLeaf(ctx, LogLeaf{Kind: "report", AuditID: r.AuditID, ReportID: &id, Data: data, CreatedAt: pgTime(now)})
}

func (s *Store) appendLeaf(ctx context.Context, l LogLeaf) (LogLeaf, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return LogLeaf{}, fmt.Errorf("log: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, logLock); err != nil {
		return LogLeaf{}, fmt.Errorf("log: lock: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM log_leaves`).Scan(&l.Idx); err != nil {
		return LogLeaf{}, fmt.Errorf("log: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO log_leaves (idx, kind, audit_id, report_id, data, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		l.Idx, l.Kind, l.AuditID, l.ReportID, l.Data, l.CreatedAt)
	if err != nil {
		return LogLeaf{}, fmt.Errorf("log: %s leaf of audit %d: %w", l.Kind, l.AuditID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return LogLeaf{}, fmt.Errorf("log: commit: %w", err)
	}
	return l, nil
}

// LogLeaves returns the whole log in order.
func (s *Store) LogLeaves(ctx context.Context) ([]LogLeaf, error) {
	rows, err := s.pool.Query(ctx, `SELECT idx, kind, audit_id, report_id, data, created_at FROM log_leaves ORDER BY idx`)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	ls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LogLeaf, error) {
		var l LogLeaf
		err := r.Scan(&l.Idx, &l.Kind, &l.AuditID, &l.ReportID, &l.Data, &l.CreatedAt)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	for i, l := range ls {
		if l.Idx != int64(i) {
			return nil, fmt.Errorf("log: leaf %d is missing (the next stored is %d)", i, l.Idx)
		}
	}
	return ls, nil
}

// CheckSealed recomputes what an audit's leaves must say from its rows: the seal from the recomputed
// chain, each report's leaf from its reports row. It returns the seal's leaf index, or names what
// differs.
func (s *Store) CheckSealed(ctx context.Context, auditID int64, leaves []LogLeaf) (int64, error) {
	a, err := s.GetAudit(ctx, auditID)
	if err != nil {
		return 0, err
	}
	rep, err := s.Verify(ctx, auditID)
	if err != nil {
		return 0, err
	}
	if err := rep.Err(); err != nil {
		return 0, err
	}
	want, err := SealLeafData(a, rep)
	if err != nil {
		return 0, err
	}
	seal := int64(-1)
	reports := map[int64]LogLeaf{}
	for _, l := range leaves {
		switch {
		case l.AuditID == auditID && l.Kind == "audit":
			seal = l.Idx
			if !bytes.Equal(l.Data, want) {
				return 0, fmt.Errorf("audit %d: log leaf %d seals %s, the stored rows give %s (evidence changed after the seal)", auditID, l.Idx, l.Data, want)
			}
		case l.AuditID == auditID && l.Kind == "report" && l.ReportID != nil:
			reports[*l.ReportID] = l
		}
	}
	if seal < 0 {
		return 0, fmt.Errorf("audit %d is not sealed in the log", auditID)
	}
	rs, err := s.Reports(ctx, auditID)
	if err != nil {
		return 0, err
	}
	for _, r := range rs {
		l, ok := reports[r.ID]
		if !ok {
			return 0, fmt.Errorf("audit %d: report %d (%s) is not in the log", auditID, r.ID, r.Path)
		}
		want, err := ReportLeafData(r)
		if err != nil {
			return 0, err
		}
		if !bytes.Equal(l.Data, want) {
			return 0, fmt.Errorf("audit %d: log leaf %d records report %d as %s, the reports row says %s (the report row was rewritten)", auditID, l.Idx, r.ID, l.Data, want)
		}
	}
	return seal, nil
}

// ChainDoc is one row of an audit's chain as it was hashed: hash = sha256(prev_hash || canonical).
type ChainDoc struct {
	Seq       int64
	Table     string
	ID        int64
	PrevHash  []byte
	Hash      []byte
	Canonical []byte
	// Samples are a measurement's samples, whose digest its canonical encoding names.
	Samples []Sample
}

// ChainDocs recomputes an audit's chain like Verify and returns each row up to the first that breaks, in seq order, with
// the bytes that were hashed: what an evidence bundle carries, so a reader in any language checks the
// chain without re-implementing varde's encoders.
func (s *Store) ChainDocs(ctx context.Context, auditID int64) (ChainReport, []ChainDoc, error) {
	var docs []ChainDoc
	rep, err := s.verify(ctx, auditID, func(d ChainDoc) { docs = append(docs, d) })
	return rep, docs, err
}

// Claims are the audits row's fields that a canonical form 2 header entry commits to, as it spells them.
func (a Audit) Claims() (map[string]any, error) { return a.claims() }

// CanonTime spells a time as canonical encodings do: UTC, microseconds, RFC 3339.
func CanonTime(t time.Time) string { return canonTime(t) }
