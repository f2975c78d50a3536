package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/varde/varde"
	"github.com/varde/varde/api"
	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/job"
	"github.com/varde/varde/metrics"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/schedule"
	"github.com/varde/varde/storage"
)

// mountConsole, when set (by the web console's wiring in this package), mounts the console on mux at
// "/". The API, /metrics, /healthz, /readyz and /openapi.json are registered first and take precedence
// by ServeMux's longest-pattern rule.
var mountConsole func(mux *http.ServeMux, deps consoleDeps) error

// consoleDeps is what the console gets from the server. Tokens are checked with api.Authenticate, the
// API's own check.
type consoleDeps struct {
	Store     *storage.Store
	Logger    *slog.Logger
	API       *api.Server
	Scheduler *schedule.Service
	// ReportTrust is what the API verifies reports against (the console's TrustRoots: ReportTrust.Roots).
	ReportTrust sign.VerifyConfig
	// CheckpointDir and LogKey let audit pages show the signed checkpoint covering the audit; empty and
	// nil without a keys directory holding the log's public key.
	CheckpointDir string
	LogKey        note.Verifier
}

// serveFlags are `varde serve`'s options; the paths and the address also come from the environment.
type serveFlags struct {
	listen, keys, signerCert, signerKey, passwordEnv, outDir, configDir, tsaURL string
	cas                                                                         pathList
	workers, dbConns                                                            int
	apiOnly                                                                     bool
	jobTimeout, drain, poll                                                     time.Duration
	rateLimit                                                                   float64
	agents                                                                      serveAgentFlags
}

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "serve")
	envOr := func(name, def string) string {
		if v := e.getenv(name); v != "" {
			return v
		}
		return def
	}
	var f serveFlags
	fs.StringVar(&f.listen, "listen", envOr("VARDE_LISTEN", "127.0.0.1:8080"), "address to listen on ($VARDE_LISTEN)")
	fs.StringVar(&f.keys, "keys", envOr("VARDE_KEYS", ""), "directory of the report signing keys from varde keys init ($VARDE_KEYS)")
	fs.StringVar(&f.signerCert, "signer-cert", envOr("VARDE_SIGNER_CERT", ""), "signing certificate (PEM or PKCS#12) instead of --keys ($VARDE_SIGNER_CERT)")
	fs.StringVar(&f.signerKey, "signer-key", envOr("VARDE_SIGNER_KEY", ""), "signing key PEM for --signer-cert ($VARDE_SIGNER_KEY)")
	fs.StringVar(&f.passwordEnv, "password-env", "VARDE_KEY_PASSWORD", "environment variable holding the signing key's password")
	fs.StringVar(&f.outDir, "out", envOr("VARDE_OUT", "out"), "directory for the signed reports; shared storage when several replicas run audits ($VARDE_OUT)")
	fs.StringVar(&f.configDir, "config-dir", envOr("VARDE_CONFIG_DIR", "."), "directory relative paths in uploaded configs are resolved in ($VARDE_CONFIG_DIR)")
	fs.StringVar(&f.tsaURL, "tsa-url", envOr("VARDE_TSA_URL", ""), "RFC 3161 time-stamp authority for report signatures ($VARDE_TSA_URL)")
	fs.Var(&f.cas, "ca", "trust anchor PEM for verifying reports (repeatable; default the CA in --keys)")
	fs.IntVar(&f.workers, "workers", 2, "audits this replica runs at once")
	fs.BoolVar(&f.apiOnly, "api-only", false, "serve the API and plan schedules, but run no audits")
	fs.DurationVar(&f.jobTimeout, "job-timeout", 2*time.Hour, "longest an audit may run")
	fs.DurationVar(&f.drain, "drain-timeout", 5*time.Minute, "on SIGTERM, how long running audits get to finish before they are interrupted")
	fs.DurationVar(&f.poll, "poll-interval", 10*time.Second, "how often due schedules are looked for")
	fs.IntVar(&f.dbConns, "db-conns", 16, "connections the API keeps to Postgres (River has its own)")
	f.agents.register(fs, envOr)
	fs.Float64Var(&f.rateLimit, "rate-limit", 100, "requests a second per token (bursts of twice as many); negative: no limit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) > 0 {
		return usagef("serve: unexpected argument %q", fs.Args()[0])
	}
	if !f.apiOnly && f.keys == "" && f.signerCert == "" {
		return usagef("serve: --keys DIR (or --signer-cert) is required to sign reports; or --api-only")
	}
	// Uploaded configs resolve their relative paths in --config-dir; the server's own paths are made
	// absolute here so that they mean what they meant on the command line.
	for _, p := range []*string{&f.keys, &f.signerCert, &f.signerKey, &f.outDir, &f.configDir} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("serve: %s: %w", *p, err)
		}
		*p = abs
	}
	// The service logs JSON lines, at info, to stderr: one line per request and per audit.
	logger := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.logger = logger

	if e.databaseURL == "" {
		return usagef("serve: no database: set DATABASE_URL or --database-url")
	}
	// Open refuses a database whose schema is older (or newer) than this varde: `varde db migrate` first.
	st, err := storage.Open(ctx, storage.Config{DatabaseURL: e.databaseURL, Logger: logger, MaxConns: int32(f.dbConns)})
	if err != nil {
		return err
	}
	defer st.Close()

	m := metrics.New(logger)
	agentSrv, err := newAgentServer(st, logger, f.agents)
	if err != nil {
		return err
	}
	sched, err := schedule.New(ctx, schedule.Config{
		DatabaseURL: e.databaseURL, Store: st, Logger: logger, Workers: f.workers, InsertOnly: f.apiOnly,
		JobTimeout: f.jobTimeout, PollInterval: f.poll, MaxSnapshotBytes: api.DefaultMaxSnapshotBytes,
		Job: schedule.JobDefaults{ConfigDir: f.configDir, KeysDir: f.keys, SignerCert: f.signerCert,
			SignerKey: f.signerKey, PasswordEnv: f.passwordEnv, TSAURL: f.tsaURL, OutputDir: f.outDir,
			Emulator: e.labEmulator(), Remote: agentSrv},
		OnAuditDone: func(ctx context.Context, run storage.AuditRun, res *job.Result) {
			if res == nil && run.AuditID == nil {
				return
			}
			var (
				id     int64
				status storage.AuditStatus
				steps  []storage.Step
			)
			if res != nil {
				id, status, steps = res.AuditID, res.Status, res.Steps
			} else {
				id, status = *run.AuditID, storage.AuditStatus(run.Status)
			}
			if err := m.ObserveAudit(ctx, st, id, status, steps); err != nil {
				logger.Warn("audit metrics", "audit_id", id, "err", err)
			}
		},
	})
	if err != nil {
		return err
	}
	if err := m.Register(metrics.NewDBCollector(sched, st, 5*time.Second)); err != nil {
		return err
	}
	trust, err := reportTrust(f)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	acfg := api.Config{Store: st, Scheduler: sched, Logger: logger, RateLimit: f.rateLimit, ReportTrust: trust,
		MaxSnapshotBytes: api.DefaultMaxSnapshotBytes}
	if f.keys != "" {
		// The log's key and checkpoints are where the audits keep them: in the signing keys directory.
		// They are read per export, since the first audit makes them.
		acfg.ExportEvidence = func(ctx context.Context, auditID int64) (*job.Bundle, error) {
			lg, err := job.OpenLogVerifier(st, filepath.Join(f.keys, evidencelog.PubKeyFile), filepath.Join(f.keys, "checkpoints"))
			if err != nil {
				return nil, err
			}
			return lg.ExportBundle(ctx, auditID)
		}
	}
	srv, err := api.New(mux, acfg)
	if err != nil {
		return err
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := sched.Ready(rctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", m.Handler())
	stopUI, err := mountRiverUI(ctx, mux, e.databaseURL, st, logger, time.Now)
	if err != nil {
		return err
	}
	defer stopUI()
	mountAgents(mux, agentSrv)
	if mountConsole != nil {
		deps := consoleDeps{Store: st, Logger: logger, API: srv, Scheduler: sched, ReportTrust: trust}
		if f.keys != "" {
			pub := filepath.Join(f.keys, evidencelog.PubKeyFile)
			if v, err := evidencelog.LoadVerifier(pub); err == nil {
				deps.CheckpointDir, deps.LogKey = filepath.Join(f.keys, "checkpoints"), v
			} else if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("serve: evidence log key %s: %w", pub, err)
			}
		}
		if err := mountConsole(mux, deps); err != nil {
			return fmt.Errorf("serve: console: %w", err)
		}
	}

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", f.listen, err)
	}
	hs := &http.Server{Handler: m.Instrument(mux), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	if err := sched.Start(ctx); err != nil {
		ln.Close()
		return errors.Join(err, sched.Stop(context.WithoutCancel(ctx)))
	}
	logger.Info("varde serve started", "version", varde.Version, "listen", ln.Addr().String(), "workers", f.workers, "api_only", f.apiOnly)
	fmt.Fprintf(e.stdout, "varde serve: listening on %s://%s\n", f.agents.scheme(), ln.Addr())

	served := make(chan error, 1)
	go func() { served <- f.agents.serve(hs, ln) }()
	select {
	case err = <-served:
		logger.Error("http server stopped", "err", err)
	case <-ctx.Done():
		logger.Info("draining", "cause", context.Cause(ctx).Error(), "drain_timeout", f.drain.String())
	}
	// Drain: stop answering (in-flight requests finish), stop taking jobs and let running audits
	// finish within the drain timeout; past it they are cancelled and record their audits as interrupted.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.drain)
	defer cancel()
	herr := hs.Shutdown(dctx)
	serr := sched.Stop(dctx)
	logger.Info("stopped", "http", errString(herr), "jobs", errString(serr))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, herr, serr)
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// reportTrust is what the API verifies stored reports against: the --ca files, else the CA beside the
// signing keys (`varde keys init` makes it).
func reportTrust(f serveFlags) (sign.VerifyConfig, error) {
	files := []string(f.cas)
	if len(files) == 0 && f.keys != "" {
		if ca := filepath.Join(f.keys, sign.CAFile); fileExists(ca) {
			files = append(files, ca)
		}
	}
	if len(files) == 0 {
		return sign.VerifyConfig{}, nil // nothing trusted: every report verifies as untrusted, and says so
	}
	pool := x509.NewCertPool()
	for _, p := range files {
		if err := sign.AddCertsFromFile(pool, p); err != nil {
			return sign.VerifyConfig{}, fmt.Errorf("serve: --ca %s: %w", p, err)
		}
	}
	return sign.VerifyConfig{Roots: pool}, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
