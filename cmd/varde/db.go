package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/varde/varde/schedule"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp"
)

// openStore connects to the configured database. checkSchema=false is for the commands that manage the
// schema itself.
func (e *env) openStore(ctx context.Context, checkSchema bool) (*storage.Store, error) {
	if e.databaseURL == "" {
		return nil, errors.New("no database: set DATABASE_URL or --database-url (`varde db start` runs a throwaway one)")
	}
	return storage.Open(ctx, storage.Config{DatabaseURL: e.databaseURL, Logger: e.logger, SkipSchemaCheck: !checkSchema})
}

func cmdDB(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("db: want a subcommand: migrate, status, start or stop")
	}
	switch args[0] {
	case "migrate":
		return cmdDBMigrate(ctx, e, args[1:])
	case "status":
		return cmdDBStatus(ctx, e, args[1:])
	case "start":
		return cmdDBStart(ctx, e, args[1:])
	case "stop":
		return cmdDBStop(ctx, e, args[1:])
	}
	return usagef("db: unknown subcommand %q (want migrate, status, start or stop)", args[0])
}

func cmdDBMigrate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "db migrate")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := e.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(res.Applied) == 0 {
		fmt.Fprintf(e.stdout, "schema is up to date at version %d; nothing applied\n", res.To)
	} else {
		for _, name := range res.Applied {
			fmt.Fprintf(e.stdout, "applied %s\n", name)
		}
		fmt.Fprintf(e.stdout, "schema migrated from version %d to %d\n", res.From, res.To)
	}
	// River's job queue (for `varde serve`) has migrations of its own, applied by River's migrator.
	qres, err := schedule.Migrate(ctx, e.databaseURL, e.logger)
	if err != nil {
		return err
	}
	if len(qres.Applied) > 0 {
		fmt.Fprintf(e.stdout, "job queue (River) schema migrated to version %d\n", qres.Version)
	}
	return nil
}

func cmdDBStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "db status")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := e.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	cur, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "schema version %d (this varde: %d)\n", cur, latest)
	return s.CheckSchema(ctx)
}

// defaultClusterDir is where `db start` keeps its cluster: under the temp dir, which the postgres user
// can reach even when the checkout sits in a private home directory.
func defaultClusterDir() string {
	return filepath.Join(os.TempDir(), "varde-pg-"+strconv.Itoa(os.Getuid()))
}

func cmdDBStart(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "db start")
	dir := fs.String("dir", defaultClusterDir(), "cluster directory (kept between runs)")
	role := fs.String("role", "writer", "whose URL to print: writer (what varde runs as) or owner (for `varde db migrate`)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var name string
	switch *role {
	case "writer":
		name = pgtemp.WriterRole
	case "owner":
		name = pgtemp.OwnerRole
	default:
		return usagef("db start: --role %q: want writer or owner", *role)
	}
	c, err := pgtemp.Start(ctx, pgtemp.Config{Dir: *dir, Logger: e.logger})
	if err != nil {
		return err
	}
	if err := c.CreateDatabase(ctx, "varde"); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, c.URLAs(name, "varde"))
	return nil
}

func cmdDBStop(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "db stop")
	dir := fs.String("dir", defaultClusterDir(), "cluster directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	stopped, err := pgtemp.StopDir(ctx, pgtemp.Config{Dir: *dir, Logger: e.logger})
	if err != nil {
		return err
	}
	if !stopped {
		fmt.Fprintf(e.stdout, "no cluster running in %s\n", *dir)
		return nil
	}
	fmt.Fprintf(e.stdout, "stopped the cluster in %s\n", *dir)
	return nil
}
