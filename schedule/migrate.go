package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// ErrQueueSchemaBehind: River's tables are missing or older than this varde's River needs.
var ErrQueueSchemaBehind = errors.New("job queue schema is older than this binary")

// riverGrants lets the role varde runs as use River's queue, which it must write (jobs move through
// states, leaders are elected, the cleaner deletes old jobs), while the migrations stay the owner's.
// River's rows are the queue's bookkeeping, not evidence.
const riverGrants = `
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname LIKE 'river\_%'
    LOOP
        IF t = 'river_migration' THEN
            EXECUTE format('GRANT SELECT ON %I TO varde_writer', t);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO varde_writer', t);
        END IF;
    END LOOP;
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind = 'S' AND c.relname LIKE 'river\_%'
    LOOP
        EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %I TO varde_writer', t);
    END LOOP;
END;
$$`

// MigrateResult says what Migrate applied to River's schema.
type MigrateResult struct {
	Applied []int // River migration versions
	Version int   // River's schema version afterwards
}

// Migrate applies River's own migrations (rivermigrate) to the database at url and grants varde_writer
// the use of River's tables. It runs as the database owner, from `varde db migrate`, after varde's own
// migrations; running it again applies nothing.
func Migrate(ctx context.Context, url string, logger *slog.Logger) (MigrateResult, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return MigrateResult{}, fmt.Errorf("job queue migrate: %w", err)
	}
	defer pool.Close()
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return MigrateResult{}, fmt.Errorf("job queue migrate: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return MigrateResult{}, fmt.Errorf("job queue migrate: %w", err)
	}
	var out MigrateResult
	for _, v := range res.Versions {
		out.Applied = append(out.Applied, v.Version)
	}
	if _, err := pool.Exec(ctx, riverGrants); err != nil {
		return out, fmt.Errorf("job queue migrate: grant varde_writer the queue: %w", err)
	}
	out.Version, _, err = queueVersion(ctx, m)
	return out, err
}

// queueVersion returns River's schema version in the database and the latest this binary's River has.
func queueVersion(ctx context.Context, m *rivermigrate.Migrator[pgxTx]) (current, latest int, err error) {
	all := m.AllVersions()
	if len(all) > 0 {
		latest = all[len(all)-1].Version
	}
	have, err := m.ExistingVersions(ctx)
	if err != nil {
		// Without River's migration table there is nothing applied yet.
		return 0, latest, nil //nolint:nilerr // a missing table reads as version 0, which checkQueueSchema reports
	}
	for _, v := range have {
		current = max(current, v.Version)
	}
	return current, latest, nil
}

// checkQueueSchema refuses a database whose River schema is not the one this binary's River needs.
func checkQueueSchema(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return err
	}
	cur, latest, err := queueVersion(ctx, m)
	if err != nil {
		return err
	}
	if cur < latest {
		return fmt.Errorf("%w: River's schema is at version %d, this varde needs %d; run `varde db migrate`",
			ErrQueueSchemaBehind, cur, latest)
	}
	return nil
}
