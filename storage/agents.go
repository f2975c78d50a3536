package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Errors of the agent tables, for the agent protocol to turn into HTTP statuses.
var (
	ErrTokenSpent    = errors.New("enrolment token already used")
	ErrTokenExpired  = errors.New("enrolment token expired")
	ErrWrongVantage  = errors.New("wrong vantage")
	ErrAgentRevoked  = errors.New("agent revoked")
	ErrLeaseLost     = errors.New("lease lost")
	ErrStaleAttempt  = errors.New("result for an old attempt")
	ErrNotYourLease  = errors.New("attempt leased by another agent")
	ErrTaskClosed    = errors.New("task closed")
	ErrResultClashes = errors.New("a different result for this attempt is already stored")
)

// Task states.
const (
	TaskPending     = "pending"
	TaskLeased      = "leased"
	TaskDone        = "done"
	TaskUnavailable = "unavailable"
)

// Agent is an enrolled remote vantage agent.
type Agent struct {
	ID         int64
	Vantage    string
	Name       string
	PublicKey  []byte
	Version    string
	EnrolledAt time.Time
	LastSeen   *time.Time
	RevokedAt  *time.Time
}

// AgentTask is one remote vantage's share of an audit's probe step.
type AgentTask struct {
	ID           int64
	AuditID      int64
	Vantage      string
	Spec         json.RawMessage
	Deadline     time.Time
	State        string
	Attempt      int
	AgentID      *int64
	LeaseExpires *time.Time
	HeartbeatAt  *time.Time
	CreatedAt    time.Time
}

// AgentResult is a result as its agent signed it.
type AgentResult struct {
	ID         int64
	TaskID     int64
	Attempt    int
	AgentID    int64
	Body       []byte
	BodySHA256 []byte
	Signature  []byte
	Samples    int
	ReceivedAt time.Time
}

// CreateEnrolment stores a one-time enrolment token's sha256 for vantage, valid until expires.
func (s *Store) CreateEnrolment(ctx context.Context, vantage string, tokenSHA256 []byte, now, expires time.Time) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO agent_enrolments (vantage, token_sha256, created_at, expires_at)
		VALUES ($1, $2, $3, $4) RETURNING id`, vantage, tokenSHA256, now, expires).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create enrolment for vantage %s: %w", vantage, err)
	}
	return id, nil
}

// Enrol spends the enrolment token with the given sha256 and binds the new agent's key to its vantage.
// A spent, expired or unknown token, or one for another vantage, enrols nobody.
func (s *Store) Enrol(ctx context.Context, tokenSHA256 []byte, a Agent, now time.Time) (Agent, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Agent{}, fmt.Errorf("enrol: %w", err)
	}
	defer tx.Rollback(ctx)
	var (
		eid     int64
		vantage string
		expires time.Time
		used    *time.Time
	)
	err = tx.QueryRow(ctx, `SELECT id, vantage, expires_at, used_at FROM agent_enrolments WHERE token_sha256 = $1 FOR UPDATE`,
		tokenSHA256).Scan(&eid, &vantage, &expires, &used)
	if err != nil {
		return Agent{}, notFound(err, "enrolment token")
	}
	switch {
	case used != nil:
		return Agent{}, fmt.Errorf("enrolment %d: %w at %s", eid, ErrTokenSpent, used.UTC().Format(time.RFC3339))
	case !now.Before(expires):
		return Agent{}, fmt.Errorf("enrolment %d: %w at %s", eid, ErrTokenExpired, expires.UTC().Format(time.RFC3339))
	case a.Vantage != "" && a.Vantage != vantage:
		return Agent{}, fmt.Errorf("enrolment %d is for vantage %s, not %s: %w", eid, vantage, a.Vantage, ErrWrongVantage)
	}
	a.Vantage, a.EnrolledAt = vantage, pgTime(now)
	err = tx.QueryRow(ctx, `INSERT INTO agents (vantage, name, public_key, enrolment_id, version, enrolled_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, a.Vantage, a.Name, a.PublicKey, eid, a.Version, a.EnrolledAt).Scan(&a.ID)
	if err != nil {
		return Agent{}, fmt.Errorf("enrol agent for vantage %s: %w", vantage, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE agent_enrolments SET used_at = $2 WHERE id = $1`, eid, now); err != nil {
		return Agent{}, fmt.Errorf("enrol: spend token: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Agent{}, fmt.Errorf("enrol: commit: %w", err)
	}
	return a, nil
}

const agentCols = `id, vantage, name, public_key, version, enrolled_at, last_seen, revoked_at`

func scanAgent(r pgx.Row) (Agent, error) {
	var a Agent
	err := r.Scan(&a.ID, &a.Vantage, &a.Name, &a.PublicKey, &a.Version, &a.EnrolledAt, &a.LastSeen, &a.RevokedAt)
	return a, err
}

// AgentByID returns one agent, revoked or not.
func (s *Store) AgentByID(ctx context.Context, id int64) (Agent, error) {
	a, err := scanAgent(s.pool.QueryRow(ctx, `SELECT `+agentCols+` FROM agents WHERE id = $1`, id))
	if err != nil {
		return Agent{}, notFound(err, fmt.Sprintf("agent %d", id))
	}
	return a, nil
}

// Agents lists every agent, in enrolment order.
func (s *Store) Agents(ctx context.Context) ([]Agent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+agentCols+` FROM agents ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Agent, error) { return scanAgent(r) })
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	return as, nil
}

// RevokeAgent revokes an agent for good: its requests are refused from now on, and the lease it holds
// can go to another agent of its vantage once it expires.
func (s *Store) RevokeAgent(ctx context.Context, id int64, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE agents SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, now)
	if err != nil {
		return fmt.Errorf("revoke agent %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		a, err := s.AgentByID(ctx, id)
		if err != nil {
			return err
		}
		return fmt.Errorf("agent %d: %w at %s", id, ErrAgentRevoked, a.RevokedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// TouchAgent records that an agent was heard from.
func (s *Store) TouchAgent(ctx context.Context, id int64, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE agents SET last_seen = $2 WHERE id = $1 AND revoked_at IS NULL`, id, now); err != nil {
		return fmt.Errorf("agent %d: last seen: %w", id, err)
	}
	return nil
}

const taskCols = `id, audit_id, vantage, spec, deadline, state, attempt, agent_id, lease_expires, heartbeat_at, created_at`

func scanTask(r pgx.Row) (AgentTask, error) {
	var t AgentTask
	// The spec as bytes: Postgres checked the jsonb, and scanning into a json.RawMessage would have
	// encoding/json scan every lease's thousand targets again.
	var spec []byte
	err := r.Scan(&t.ID, &t.AuditID, &t.Vantage, &spec, &t.Deadline, &t.State, &t.Attempt, &t.AgentID,
		&t.LeaseExpires, &t.HeartbeatAt, &t.CreatedAt)
	t.Spec = spec
	return t, err
}

// CreateAgentTask makes the task of one vantage in one audit, or returns the one made before (a
// retried job finds its task, with any lease and result it has).
func (s *Store) CreateAgentTask(ctx context.Context, t AgentTask) (AgentTask, error) {
	_, err := s.pool.Exec(ctx, `INSERT INTO agent_tasks (audit_id, vantage, spec, deadline, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (audit_id, vantage) DO NOTHING`, t.AuditID, t.Vantage, t.Spec, t.Deadline, t.CreatedAt)
	if err != nil {
		return AgentTask{}, fmt.Errorf("audit %d: task for vantage %s: %w", t.AuditID, t.Vantage, err)
	}
	out, err := scanTask(s.pool.QueryRow(ctx, `SELECT `+taskCols+` FROM agent_tasks WHERE audit_id = $1 AND vantage = $2`, t.AuditID, t.Vantage))
	if err != nil {
		return AgentTask{}, fmt.Errorf("audit %d: task for vantage %s: %w", t.AuditID, t.Vantage, err)
	}
	return out, nil
}

// AgentTask returns one task.
func (s *Store) AgentTask(ctx context.Context, id int64) (AgentTask, error) {
	t, err := scanTask(s.pool.QueryRow(ctx, `SELECT `+taskCols+` FROM agent_tasks WHERE id = $1`, id))
	if err != nil {
		return AgentTask{}, notFound(err, fmt.Sprintf("task %d", id))
	}
	return t, nil
}

// LeaseAgentTask gives agentID the oldest open task of its vantage: one never leased, or one whose lease
// expired (then with the attempt raised). Nil when there is none. Tasks past their deadline are left to
// the job, which closes them as unavailable.
func (s *Store) LeaseAgentTask(ctx context.Context, vantage string, agentID int64, now time.Time, ttl time.Duration) (*AgentTask, error) {
	// One statement, so one round trip: every waiting agent asks several times a second, and a burst of
	// leases competes for the CPU with the results of the round before.
	t, err := scanTask(s.pool.QueryRow(ctx, `WITH t AS (
			UPDATE agent_tasks SET state = 'leased', attempt = attempt + 1, agent_id = $2, lease_expires = $4, heartbeat_at = $3
			WHERE id = (SELECT id FROM agent_tasks WHERE vantage = $1 AND deadline > $3
				AND (state = 'pending' OR (state = 'leased' AND lease_expires <= $3))
				ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
			RETURNING `+taskCols+`),
		l AS (INSERT INTO agent_leases (task_id, attempt, agent_id, leased_at) SELECT id, attempt, $2, $3 FROM t),
		a AS (UPDATE agents SET last_seen = $3 WHERE id = $2 AND EXISTS (SELECT FROM t))
		SELECT `+taskCols+` FROM t`, vantage, agentID, now, now.Add(ttl)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lease a task of vantage %s: %w", vantage, err)
	}
	return &t, nil
}

// HeartbeatAgentTask extends agentID's lease of attempt; ErrLeaseLost when the attempt is no longer
// its lease (expired and re-leased, or the task closed).
func (s *Store) HeartbeatAgentTask(ctx context.Context, taskID int64, attempt int, agentID int64, now time.Time, ttl time.Duration) (time.Time, error) {
	exp := pgTime(now.Add(ttl))
	tag, err := s.pool.Exec(ctx, `UPDATE agent_tasks SET lease_expires = $5, heartbeat_at = $4
		WHERE id = $1 AND attempt = $2 AND agent_id = $3 AND state = 'leased'`, taskID, attempt, agentID, now, exp)
	if err != nil {
		return time.Time{}, fmt.Errorf("heartbeat task %d: %w", taskID, err)
	}
	if tag.RowsAffected() == 0 {
		return time.Time{}, fmt.Errorf("task %d attempt %d: %w", taskID, attempt, ErrLeaseLost)
	}
	return exp, nil
}

// PutAgentResult stores a result for (task, attempt) from agent, whose vantage must be the task's.
// Posting the same body again is not an error: dup is true and nothing is stored twice. A result for an
// attempt that is not the task's current one, or for a task already closed, is refused.
func (s *Store) PutAgentResult(ctx context.Context, r AgentResult, vantage string) (dup bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("result: %w", err)
	}
	defer tx.Rollback(ctx)
	// Task, lease and any stored result in one query (not the spec: it can be large, and it is not needed
	// here), then the result and the task's closing in one statement: four round trips with BEGIN and
	// COMMIT, where a burst of posts waits on each.
	var t AgentTask
	var holder *int64
	var prevSHA []byte
	err = tx.QueryRow(ctx, `SELECT t.vantage, t.state, t.attempt, l.agent_id, r.body_sha256 FROM agent_tasks t
		LEFT JOIN agent_leases l ON l.task_id = t.id AND l.attempt = $2
		LEFT JOIN agent_results r ON r.task_id = t.id AND r.attempt = $2
		WHERE t.id = $1 FOR UPDATE OF t`, r.TaskID, r.Attempt).Scan(&t.Vantage, &t.State, &t.Attempt, &holder, &prevSHA)
	if err != nil {
		return false, notFound(err, fmt.Sprintf("task %d", r.TaskID))
	}
	name := fmt.Sprintf("task %d attempt %d", r.TaskID, r.Attempt)
	if t.Vantage != vantage {
		return false, fmt.Errorf("%s is for vantage %s, the agent's is %s: %w", name, t.Vantage, vantage, ErrWrongVantage)
	}
	if holder == nil {
		return false, fmt.Errorf("%s was never leased (current attempt %d): %w", name, t.Attempt, ErrStaleAttempt)
	}
	if *holder != r.AgentID {
		return false, fmt.Errorf("%s is agent %d's lease, not agent %d's: %w", name, *holder, r.AgentID, ErrNotYourLease)
	}
	switch {
	case prevSHA != nil && bytes.Equal(prevSHA, r.BodySHA256):
		return true, nil
	case prevSHA != nil:
		return false, fmt.Errorf("%s: %w", name, ErrResultClashes)
	}
	switch {
	case t.Attempt != r.Attempt:
		return false, fmt.Errorf("%s: the task is at attempt %d: %w", name, t.Attempt, ErrStaleAttempt)
	case t.State != TaskLeased:
		return false, fmt.Errorf("%s: the task is %s: %w", name, t.State, ErrTaskClosed)
	}
	_, err = tx.Exec(ctx, `WITH stored AS (
			INSERT INTO agent_results (task_id, attempt, agent_id, body, body_sha256, signature, samples, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING task_id)
		UPDATE agent_tasks SET state = 'done' WHERE id = (SELECT task_id FROM stored)`,
		r.TaskID, r.Attempt, r.AgentID, r.Body, r.BodySHA256, r.Signature, r.Samples, r.ReceivedAt)
	if err != nil {
		return false, fmt.Errorf("%s: store result and close the task: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("%s: commit: %w", name, err)
	}
	return false, nil
}

// AgentTaskResult returns a task's accepted result, nil while it has none.
func (s *Store) AgentTaskResult(ctx context.Context, taskID int64) (*AgentResult, error) {
	var r AgentResult
	err := s.pool.QueryRow(ctx, `SELECT r.id, r.task_id, r.attempt, r.agent_id, r.body, r.body_sha256, r.signature, r.samples, r.received_at
		FROM agent_results r JOIN agent_tasks t ON t.id = r.task_id AND t.attempt = r.attempt
		WHERE r.task_id = $1 AND t.state = 'done'`, taskID).
		Scan(&r.ID, &r.TaskID, &r.Attempt, &r.AgentID, &r.Body, &r.BodySHA256, &r.Signature, &r.Samples, &r.ReceivedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("task %d: result: %w", taskID, err)
	}
	return &r, nil
}

// CloseAgentTaskUnavailable closes a task that has no result as unavailable; false when it has one
// (it arrived first) and stays done.
func (s *Store) CloseAgentTaskUnavailable(ctx context.Context, taskID int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE agent_tasks SET state = 'unavailable' WHERE id = $1 AND state IN ('pending', 'leased')`, taskID)
	if err != nil {
		return false, fmt.Errorf("task %d: close as unavailable: %w", taskID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Monitor is what a vantage's agents measure between audits, every Interval.
type Monitor struct {
	Vantage   string
	Spec      json.RawMessage
	Interval  time.Duration
	UpdatedAt time.Time
}

// SetMonitor sets (or replaces) a vantage's monitoring between audits.
func (s *Store) SetMonitor(ctx context.Context, m Monitor) error {
	secs := int(m.Interval / time.Second)
	if secs < 1 {
		return fmt.Errorf("monitor for vantage %s: interval %v: want at least 1s", m.Vantage, m.Interval)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO agent_monitors (vantage, spec, interval_s, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (vantage) DO UPDATE SET spec = EXCLUDED.spec, interval_s = EXCLUDED.interval_s, updated_at = EXCLUDED.updated_at`,
		m.Vantage, m.Spec, secs, m.UpdatedAt)
	if err != nil {
		return fmt.Errorf("monitor for vantage %s: %w", m.Vantage, err)
	}
	return nil
}

// MonitorOf returns a vantage's monitoring; ErrNotFound when it has none.
func (s *Store) MonitorOf(ctx context.Context, vantage string) (Monitor, error) {
	m := Monitor{Vantage: vantage}
	var secs int
	err := s.pool.QueryRow(ctx, `SELECT spec, interval_s, updated_at FROM agent_monitors WHERE vantage = $1`, vantage).
		Scan(&m.Spec, &secs, &m.UpdatedAt)
	if err != nil {
		return Monitor{}, notFound(err, "monitor for vantage "+vantage)
	}
	m.Interval = time.Duration(secs) * time.Second
	return m, nil
}

// AgentSummary is one agent's signed summary of one monitoring interval.
type AgentSummary struct {
	ID          int64
	AgentID     int64
	Vantage     string
	PeriodStart time.Time
	PeriodEnd   time.Time
	Body        []byte
	BodySHA256  []byte
	Signature   []byte
	ReceivedAt  time.Time
}

// PutAgentSummary stores a summary, once: the same body again is dup; another body for the same agent
// and period is ErrResultClashes.
func (s *Store) PutAgentSummary(ctx context.Context, sm AgentSummary) (dup bool, err error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO agent_summaries (agent_id, vantage, period_start, period_end, body, body_sha256,
		signature, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (agent_id, period_start) DO NOTHING`,
		sm.AgentID, sm.Vantage, sm.PeriodStart, sm.PeriodEnd, sm.Body, sm.BodySHA256, sm.Signature, sm.ReceivedAt)
	if err != nil {
		return false, fmt.Errorf("summary of agent %d: %w", sm.AgentID, err)
	}
	if tag.RowsAffected() == 1 {
		return false, nil
	}
	var prev []byte
	if err := s.pool.QueryRow(ctx, `SELECT body_sha256 FROM agent_summaries WHERE agent_id = $1 AND period_start = $2`,
		sm.AgentID, sm.PeriodStart).Scan(&prev); err != nil {
		return false, fmt.Errorf("summary of agent %d: %w", sm.AgentID, err)
	}
	if !bytes.Equal(prev, sm.BodySHA256) {
		return false, fmt.Errorf("summary of agent %d for %s: %w", sm.AgentID, sm.PeriodStart.UTC().Format(time.RFC3339), ErrResultClashes)
	}
	return true, nil
}

// AgentSummaries returns a vantage's summaries whose periods start in [from, to), oldest first.
func (s *Store) AgentSummaries(ctx context.Context, vantage string, from, to time.Time) ([]AgentSummary, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, agent_id, vantage, period_start, period_end, body, body_sha256, signature, received_at
		FROM agent_summaries WHERE vantage = $1 AND period_start >= $2 AND period_start < $3 ORDER BY period_start, id`, vantage, from, to)
	if err != nil {
		return nil, fmt.Errorf("summaries of vantage %s: %w", vantage, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AgentSummary, error) {
		var sm AgentSummary
		err := r.Scan(&sm.ID, &sm.AgentID, &sm.Vantage, &sm.PeriodStart, &sm.PeriodEnd, &sm.Body, &sm.BodySHA256, &sm.Signature, &sm.ReceivedAt)
		return sm, err
	})
	if err != nil {
		return nil, fmt.Errorf("summaries of vantage %s: %w", vantage, err)
	}
	return out, nil
}

// AppendMonitoring appends a monitoring entry (EntryMonitoring) to a running audit's chain. body is the
// entry's JSON; the caller owns its shape.
func (s *Store) AppendMonitoring(ctx context.Context, auditID int64, body []byte) error {
	a, err := s.GetAudit(ctx, auditID)
	if err != nil {
		return fmt.Errorf("monitoring entry: %w", err)
	}
	if a.CanonicalForm == FormGo {
		return fmt.Errorf("audit %d: monitoring entries need canonical form %d, the audit is form %d", auditID, FormJCS, a.CanonicalForm)
	}
	return s.withChain(ctx, auditID, func(c *chainTx) error {
		return c.appendEntry(ctx, &Entry{Kind: EntryMonitoring, Body: body}, nil)
	})
}

// MonitoringEntries returns an audit's monitoring entries in chain order.
func (s *Store) MonitoringEntries(ctx context.Context, auditID int64) ([]Entry, error) {
	es, err := s.Entries(ctx, auditID)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range es {
		if e.Kind == EntryMonitoring {
			out = append(out, e)
		}
	}
	return out, nil
}

// AgentSummariesByID returns the summaries with the given IDs, in the order asked; a missing ID is an
// error naming it.
func (s *Store) AgentSummariesByID(ctx context.Context, ids []int64) ([]AgentSummary, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, agent_id, vantage, period_start, period_end, body, body_sha256, signature, received_at
		FROM agent_summaries WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("summaries by id: %w", err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AgentSummary, error) {
		var sm AgentSummary
		err := r.Scan(&sm.ID, &sm.AgentID, &sm.Vantage, &sm.PeriodStart, &sm.PeriodEnd, &sm.Body, &sm.BodySHA256, &sm.Signature, &sm.ReceivedAt)
		return sm, err
	})
	if err != nil {
		return nil, fmt.Errorf("summaries by id: %w", err)
	}
	byID := make(map[int64]AgentSummary, len(got))
	for _, sm := range got {
		byID[sm.ID] = sm
	}
	out := make([]AgentSummary, 0, len(ids))
	for _, id := range ids {
		sm, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("agent summary %d: %w", id, ErrNotFound)
		}
		out = append(out, sm)
	}
	return out, nil
}
