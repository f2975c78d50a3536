package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// QueueCount is how many of River's jobs are in one queue and state.
type QueueCount struct {
	Queue string `db:"queue"`
	State string `db:"state"`
	Jobs  int64  `db:"jobs"`
}

// QueueDepth counts River's unfinished jobs by queue and state, for the metrics. River's tables are
// read, never written, here: they are River's.
func (s *Store) QueueDepth(ctx context.Context) ([]QueueCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT queue, state::text AS state, count(*) AS jobs FROM river_job
		WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled') GROUP BY queue, state ORDER BY queue, state`)
	if err != nil {
		return nil, fmt.Errorf("queue depth: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[QueueCount])
}

// ScheduleSuccess is the finish time of a schedule's last successful run.
type ScheduleSuccess struct {
	ScheduleID int64     `db:"schedule_id"`
	ConfigName string    `db:"config_name"`
	At         time.Time `db:"at"`
}

// LastSuccessfulRuns gives, for each schedule that has one, when its last successful run finished.
func (s *Store) LastSuccessfulRuns(ctx context.Context) ([]ScheduleSuccess, error) {
	rows, err := s.pool.Query(ctx, `SELECT s.id AS schedule_id, s.config_name, max(r.finished_at) AS at
		FROM schedules s JOIN audit_runs r ON r.schedule_id = s.id
		WHERE r.status = 'succeeded' AND r.finished_at IS NOT NULL GROUP BY s.id, s.config_name ORDER BY s.id`)
	if err != nil {
		return nil, fmt.Errorf("last successful runs: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[ScheduleSuccess])
}
