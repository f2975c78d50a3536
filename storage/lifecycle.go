package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// An audit's owner proves it is alive by holding a session-level advisory lock keyed on the audit's ID.
// PostgreSQL drops the lock when the owner's session ends (its process exits or is killed, or the server
// restarts), so Recover can tell a running audit from one whose process is gone without trusting clocks,
// host names or PIDs, and it works the same for several varde processes on several hosts.
// The lock key is (auditLockSpace, ID as int4): IDs past 2^31 wrap and may share a lock with another
// audit, which can only make Recover leave an orphan running, never close a live audit.
const auditLockSpace = 0x76617264 // "vard": keeps varde's advisory locks apart from other users'

// errHeld: another live session holds the audit.
var errHeld = errors.New("another varde process holds it")

// Hold is the claim of one process on one running audit. Release it when the audit is final.
type Hold struct {
	conn    *pgxpool.Conn
	auditID int64
}

// HoldAudit claims a running audit for this process until Release. It fails when another live session
// already holds it.
func (s *Store) HoldAudit(ctx context.Context, auditID int64) (*Hold, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("hold audit %d: %w", auditID, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, auditLockSpace, int32(auditID)).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("hold audit %d: %w", auditID, err)
	}
	if !ok {
		conn.Release()
		return nil, fmt.Errorf("hold audit %d: %w", auditID, errHeld)
	}
	return &Hold{conn: conn, auditID: auditID}, nil
}

// Release gives the audit up. The session's lock goes with the connection, which is closed rather than
// returned to the pool, so no later user of the pool inherits it.
func (h *Hold) Release() {
	if h == nil || h.conn == nil {
		return
	}
	h.conn.Hijack().Close(context.Background())
	h.conn = nil
}

// Recovered is an audit that Recover closed.
type Recovered struct {
	AuditID   int64
	StartedAt time.Time
}

// Recover closes every running audit whose owner is gone as interrupted, at time at. An audit some live
// session holds (HoldAudit) is left alone. What the closed audits stored stays and still verifies.
func (s *Store) Recover(ctx context.Context, at time.Time) ([]Recovered, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, started_at FROM audits WHERE status = $1 ORDER BY id`, StatusRunning)
	if err != nil {
		return nil, fmt.Errorf("recover: list running audits: %w", err)
	}
	var running []Recovered
	for rows.Next() {
		var r Recovered
		if err := rows.Scan(&r.AuditID, &r.StartedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("recover: %w", err)
		}
		running = append(running, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	var out []Recovered
	for _, r := range running {
		closed, err := s.closeOrphan(ctx, r.AuditID, at)
		if err != nil {
			return out, err
		}
		if closed {
			out = append(out, r)
		}
	}
	return out, nil
}

// closeOrphan takes the audit's lock for a moment: if it can, nobody owns the audit and it is closed.
func (s *Store) closeOrphan(ctx context.Context, id int64, at time.Time) (bool, error) {
	h, err := s.HoldAudit(ctx, id)
	if errors.Is(err, errHeld) {
		return false, nil // a live owner holds it
	}
	if err != nil {
		return false, fmt.Errorf("recover: %w", err)
	}
	defer h.Release()
	err = s.FinishAudit(ctx, id, StatusInterrupted, at)
	if errors.Is(err, ErrAuditFinished) {
		return false, nil // its owner finished it between the listing and the lock
	}
	if err != nil {
		return false, fmt.Errorf("recover audit %d: %w", id, err)
	}
	return true, nil
}
