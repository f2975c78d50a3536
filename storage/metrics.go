package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

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
