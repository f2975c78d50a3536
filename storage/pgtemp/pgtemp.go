// Package pgtemp starts a throwaway PostgreSQL cluster with initdb and pg_ctl on a unix socket in a
// directory of its own, for tests (one cluster per test binary, a fresh database per test) and for
// `make demo` when no DATABASE_URL is given. It never listens on TCP.
package pgtemp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Config says where the cluster lives and how to find the server binaries.
type Config struct {
	// Dir holds the data directory and the socket. Empty: a new temporary directory that Stop removes.
	// Given: the cluster persists there between runs, and Start reuses a running one.
	Dir string
	// BinDir holds initdb, pg_ctl and postgres. Empty: $PG_BINDIR, then the newest /usr/lib/postgresql/*/bin,
	// then pg_config --bindir.
	BinDir string
	// Logger gets progress messages. Default: discard.
	Logger *slog.Logger
	// StartTimeout bounds initdb plus server start. Default 60s.
	StartTimeout time.Duration
	// NotDurable turns fsync, synchronous commit and full-page writes off: faster, but a crash of the
	// server or the machine loses commits it already acknowledged. Only for test clusters whose data
	// nobody keeps; `varde db start` and the demo keep what they acknowledge.
	NotDurable bool
}

func (c *Config) setDefaults() error {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.BinDir == "" {
		dir, err := findBinDir()
		if err != nil {
			return err
		}
		c.BinDir = dir
	}
	if _, err := os.Stat(filepath.Join(c.BinDir, "initdb")); err != nil {
		return fmt.Errorf("pgtemp: no initdb in %s (install Debian's postgresql package): %w", c.BinDir, err)
	}
	return nil
}

// ErrNoServer is returned when the PostgreSQL server binaries cannot be found.
var ErrNoServer = errors.New("pgtemp: PostgreSQL server binaries not found (install Debian's postgresql package or set PG_BINDIR)")

func findBinDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoServer
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Cluster is a running throwaway server.
type Cluster struct {
	cfg       Config
	dir       string
	temporary bool
	cred      *syscall.Credential
}

// Start initialises (when needed) and starts a cluster. As root it runs the server as the postgres user,
// because PostgreSQL refuses to run as root.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	c := &Cluster{cfg: cfg, dir: cfg.Dir}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "varde-pg-")
		if err != nil {
			return nil, fmt.Errorf("pgtemp: %w", err)
		}
		c.dir, c.temporary = d, true
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("pgtemp: %w", err)
	}
	if os.Geteuid() == 0 {
		cred, err := postgresCredential()
		if err != nil {
			c.cleanup()
			return nil, err
		}
		c.cred = cred
		if err := chownTree(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			c.cleanup()
			return nil, fmt.Errorf("pgtemp: %w", err)
		}
		// The server user must be able to reach the directory through every parent.
		if err := checkTraversable(c.dir); err != nil {
			c.cleanup()
			return nil, err
		}
	}
	if err := c.start(ctx); err != nil {
		c.cleanup()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// SocketDir is where the server's unix socket lives.
func (c *Cluster) SocketDir() string { return c.dir }

// Dir is the cluster's directory.
func (c *Cluster) Dir() string { return c.dir }

// URL returns the superuser's connection URL for database name over the unix socket.
func (c *Cluster) URL(database string) string { return c.URLAs("postgres", database) }

// URLAs returns role's connection URL for database name over the unix socket.
func (c *Cluster) URLAs(role, database string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s&sslmode=disable", role, database, c.dir)
}

// The two roles every cluster has besides the superuser. OwnerRole owns varde's databases and runs
// `varde db migrate`; WriterRole is what the CLI and the service connect as: it may read and append
// evidence and nothing else (migration 004 grants exactly that).
const (
	OwnerRole  = "varde_owner"
	WriterRole = "varde_writer"
)

// ensureRoles creates OwnerRole and WriterRole when they are missing: login roles that are not
// superusers and cannot create roles or databases.
func (c *Cluster) ensureRoles(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgtemp: connect to create roles: %w", err)
	}
	defer conn.Close(ctx)
	for _, role := range []string{OwnerRole, WriterRole} {
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
			return fmt.Errorf("pgtemp: role %s: %w", role, err)
		}
		if exists {
			continue
		}
		if _, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+
			" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"); err != nil {
			return fmt.Errorf("pgtemp: create role %s: %w", role, err)
		}
	}
	return nil
}

// CreateDatabase creates database name owned by OwnerRole unless it exists.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgtemp: connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("pgtemp: database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" OWNER "+pgx.Identifier{OwnerRole}.Sanitize()); err != nil {
		return fmt.Errorf("pgtemp: create database %s: %w", name, err)
	}
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err != nil {
		c.cfg.Logger.Info("initdb", "dir", c.dataDir())
		if err := c.cmd(ctx, "initdb", "-D", c.dataDir(), "-U", "postgres", "--auth=trust",
			"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
			return err
		}
	}
	if c.running(ctx) {
		c.cfg.Logger.Info("reusing running cluster", "dir", c.dir)
		return c.ensureRoles(ctx)
	}
	// The server only listens on the socket.
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c max_connections=200", c.dir)
	if c.cfg.NotDurable {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	if err := c.cmd(ctx, "pg_ctl", "-D", c.dataDir(), "-o", opts, "-l", filepath.Join(c.dir, "server.log"), "-w", "start"); err != nil {
		return err
	}
	return c.ensureRoles(ctx)
}

func (c *Cluster) running(ctx context.Context) bool {
	cmd := c.command(ctx, "pg_ctl", "-D", c.dataDir(), "status")
	return cmd.Run() == nil
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.cfg.BinDir, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// The server must not die with the caller's process group on ^C before Stop runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	return cmd
}

func (c *Cluster) cmd(ctx context.Context, name string, args ...string) error {
	cmd := c.command(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if log, rerr := os.ReadFile(filepath.Join(c.dir, "server.log")); rerr == nil && name == "pg_ctl" {
			msg += "\n" + lastLines(string(log), 10)
		}
		return fmt.Errorf("pgtemp: %s failed: %w: %s", name, err, msg)
	}
	return nil
}

// StopDir stops the server of the cluster kept in cfg.Dir, if one runs there, without initialising or
// starting anything. It reports whether a server was running.
func StopDir(ctx context.Context, cfg Config) (bool, error) {
	if cfg.Dir == "" {
		return false, errors.New("pgtemp: StopDir needs the cluster directory")
	}
	if err := cfg.setDefaults(); err != nil {
		return false, err
	}
	c := &Cluster{cfg: cfg, dir: cfg.Dir}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("pgtemp: %w", err)
	}
	if os.Geteuid() == 0 {
		cred, err := postgresCredential()
		if err != nil {
			return false, err
		}
		c.cred = cred
	}
	if !c.running(ctx) {
		return false, nil
	}
	return true, c.Stop(ctx)
}

// Stop shuts the server down and, for a temporary cluster, removes its directory.
func (c *Cluster) Stop(ctx context.Context) error {
	err := c.cmd(ctx, "pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "stop")
	if err != nil && !c.running(ctx) {
		err = nil // already stopped
	}
	c.cleanup()
	return err
}

func (c *Cluster) cleanup() {
	if c.temporary {
		os.RemoveAll(c.dir)
	}
}

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtemp: running as root needs a postgres user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func checkTraversable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgtemp: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pgtemp: the postgres user cannot reach %s because %s is not searchable by others; choose a directory under /tmp", dir, p)
		}
		if p == "/" {
			return nil
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
