package storage

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"

	"github.com/jackc/tern/v2/migrate"

	"github.com/varde/varde/migrations"
)

// versionTable is where tern keeps the applied schema version.
const versionTable = "public.schema_version"

var migrationName = regexp.MustCompile(`^\d+_.+\.up\.sql$`)

// LatestVersion is the schema version this binary was built for: its highest embedded migration.
func LatestVersion() int {
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if migrationName.MatchString(e.Name()) {
			n++
		}
	}
	return n
}

// SchemaVersion returns the version recorded in the database (0 for an empty database) and the version
// this binary expects.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	latest = LatestVersion()
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, versionTable).Scan(&exists); err != nil {
		return 0, latest, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, latest, nil
	}
	var v int32
	if err := s.pool.QueryRow(ctx, `SELECT version FROM `+versionTable).Scan(&v); err != nil {
		return 0, latest, fmt.Errorf("read schema version: %w", err)
	}
	return int(v), latest, nil
}

// CheckSchema refuses a database whose schema is not the one this binary was built for.
func (s *Store) CheckSchema(ctx context.Context) error {
	cur, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case cur > latest:
		return fmt.Errorf("%w: the database is at schema version %d but this varde knows only up to %d; upgrade varde",
			ErrSchemaTooNew, cur, latest)
	case cur < latest:
		return fmt.Errorf("%w: the database is at schema version %d, this varde needs %d; run `varde db migrate`",
			ErrSchemaBehind, cur, latest)
	}
	return nil
}

// MigrateResult says what Migrate did.
type MigrateResult struct {
	From, To int
	Applied  []string
}

// Migrate applies every embedded migration the database lacks. Running it again applies nothing.
func (s *Store) Migrate(ctx context.Context) (MigrateResult, error) {
	return s.MigrateTo(ctx, LatestVersion())
}

// MigrateTo applies the embedded migrations up to version, and no further: tests use it to hold a
// database at an older schema, as a varde of that time left it.
func (s *Store) MigrateTo(ctx context.Context, version int) (MigrateResult, error) {
	cur, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		return MigrateResult{}, err
	}
	if cur > latest {
		return MigrateResult{From: cur, To: cur}, fmt.Errorf("%w: the database is at schema version %d but this varde knows only up to %d; upgrade varde",
			ErrSchemaTooNew, cur, latest)
	}
	if version < cur || version > latest {
		return MigrateResult{From: cur, To: cur}, fmt.Errorf("migrate to schema version %d: want %d to %d (the database is at %d)",
			version, cur, latest, cur)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return MigrateResult{}, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return MigrateResult{}, fmt.Errorf("migrate: %w", err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return MigrateResult{}, fmt.Errorf("migrate: load embedded migrations: %w", err)
	}
	res := MigrateResult{From: cur}
	m.OnStart = func(seq int32, name, direction, _ string) {
		s.logger.Info("applying migration", "sequence", seq, "name", name, "direction", direction)
		res.Applied = append(res.Applied, name)
	}
	if err := m.MigrateTo(ctx, int32(version)); err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	v, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	res.To = int(v)
	return res, nil
}
