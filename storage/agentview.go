package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AgentReportHead is how much of an agent's latest signed body AgentOverview returns: the agent's
// version and clock state come first in it (agentwire.Result and agentwire.Summary), the samples after,
// and a result body can be megabytes.
const AgentReportHead = 4096

// AgentView is an agent with what it last said about itself.
type AgentView struct {
	Agent
	// ReportKind is "result" or "summary": where the latest signed body came from; empty if none.
	ReportKind string
	ReportID   int64
	ReportAt   *time.Time // when the server received it
	// ReportHead is the body's first AgentReportHead bytes; ReportSize its full length.
	ReportHead []byte
	ReportSize int
}

// VantageView is a vantage varde knows of: one with agents, tasks, monitoring or enrolment tokens.
type VantageView struct {
	Name string
	// LastTask is the vantage's latest audit task (nil: none), with its audit and state.
	LastTask *AgentTask
	// MonitorInterval is its monitoring between audits; zero: none.
	MonitorInterval time.Duration
	// OpenEnrolments counts enrolment tokens for it neither used nor expired at the view's now.
	OpenEnrolments int
}

// AgentOverview lists every agent, in vantage and enrolment order, with the head of its latest signed
// result or summary, and every vantage varde knows of, in one consistent view.
func (s *Store) AgentOverview(ctx context.Context, now time.Time) ([]AgentView, []VantageView, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, nil, fmt.Errorf("agent overview: %w", err)
	}
	defer tx.Rollback(ctx)
	// agent_results has no index on agent_id: one pass picks each agent's latest; summaries have
	// (agent_id, period_start).
	rows, err := tx.Query(ctx, `WITH lr AS (
			SELECT DISTINCT ON (agent_id) agent_id, id FROM agent_results ORDER BY agent_id, received_at DESC, id DESC)
		SELECT a.id, a.vantage, a.name, a.public_key, a.version, a.enrolled_at, a.last_seen, a.revoked_at,
			r.id, r.received_at, substring(r.body FROM 1 FOR $1), octet_length(r.body),
			sm.id, sm.received_at, sm.head, sm.size
		FROM agents a
		LEFT JOIN lr ON lr.agent_id = a.id
		LEFT JOIN agent_results r ON r.id = lr.id
		LEFT JOIN LATERAL (SELECT id, received_at, substring(body FROM 1 FOR $1) AS head, octet_length(body) AS size
			FROM agent_summaries WHERE agent_id = a.id ORDER BY period_start DESC LIMIT 1) sm ON true
		ORDER BY a.vantage, a.id`, AgentReportHead)
	if err != nil {
		return nil, nil, fmt.Errorf("agent overview: %w", err)
	}
	agents, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AgentView, error) {
		var (
			v            AgentView
			rid, sid     *int64
			rat, sat     *time.Time
			rhead, shead []byte
			rsize, ssize *int
		)
		err := r.Scan(&v.ID, &v.Vantage, &v.Name, &v.PublicKey, &v.Version, &v.EnrolledAt, &v.LastSeen, &v.RevokedAt,
			&rid, &rat, &rhead, &rsize, &sid, &sat, &shead, &ssize)
		if err != nil {
			return v, err
		}
		// The newer of the two speaks for the agent now.
		if rid != nil && (sid == nil || !rat.Before(*sat)) {
			v.ReportKind, v.ReportID, v.ReportAt, v.ReportHead, v.ReportSize = "result", *rid, rat, rhead, *rsize
		} else if sid != nil {
			v.ReportKind, v.ReportID, v.ReportAt, v.ReportHead, v.ReportSize = "summary", *sid, sat, shead, *ssize
		}
		return v, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("agent overview: agents: %w", err)
	}
	rows, err = tx.Query(ctx, `WITH names AS (
			SELECT vantage FROM agents UNION SELECT vantage FROM agent_tasks
			UNION SELECT vantage FROM agent_monitors UNION SELECT vantage FROM agent_enrolments WHERE used_at IS NULL AND expires_at > $1)
		SELECT n.vantage, t.id, t.audit_id, t.state, t.attempt, t.agent_id, t.deadline, t.created_at, m.interval_s,
			(SELECT count(*) FROM agent_enrolments e WHERE e.vantage = n.vantage AND e.used_at IS NULL AND e.expires_at > $1)
		FROM names n
		LEFT JOIN LATERAL (SELECT * FROM agent_tasks WHERE vantage = n.vantage ORDER BY id DESC LIMIT 1) t ON true
		LEFT JOIN agent_monitors m ON m.vantage = n.vantage
		ORDER BY n.vantage`, now)
	if err != nil {
		return nil, nil, fmt.Errorf("agent overview: vantages: %w", err)
	}
	vantages, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (VantageView, error) {
		var (
			v     VantageView
			tid   *int64
			t     AgentTask
			audit *int64
			state *string
			att   *int
			dl    *time.Time
			made  *time.Time
			secs  *int
		)
		if err := r.Scan(&v.Name, &tid, &audit, &state, &att, &t.AgentID, &dl, &made, &secs, &v.OpenEnrolments); err != nil {
			return v, err
		}
		if tid != nil {
			t.ID, t.AuditID, t.Vantage, t.State, t.Attempt, t.Deadline, t.CreatedAt = *tid, *audit, v.Name, *state, *att, *dl, *made
			v.LastTask = &t
		}
		if secs != nil {
			v.MonitorInterval = time.Duration(*secs) * time.Second
		}
		return v, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("agent overview: vantages: %w", err)
	}
	return agents, vantages, nil
}

// AgentReportBody returns the whole of an agent's signed result or summary body, for when its head did
// not hold what the reader wanted.
func (s *Store) AgentReportBody(ctx context.Context, kind string, id int64) ([]byte, error) {
	var q string
	switch kind {
	case "result":
		q = `SELECT body FROM agent_results WHERE id = $1`
	case "summary":
		q = `SELECT body FROM agent_summaries WHERE id = $1`
	default:
		return nil, fmt.Errorf("agent report %d: kind %q: want result or summary", id, kind)
	}
	var b []byte
	if err := s.pool.QueryRow(ctx, q, id).Scan(&b); err != nil {
		return nil, notFound(err, fmt.Sprintf("agent %s %d", kind, id))
	}
	return b, nil
}
