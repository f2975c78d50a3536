// Command api load-tests one `varde serve` with vegeta: GET /v1/audits and GET /v1/audits/{id}/findings
// at a fixed rate (default 500 requests/s for 30 s each), and prints p50, p99, max and errors per
// endpoint. The target is p99 < 50 ms with no errors.
//
//	go run ./bench/api [-rate 500] [-duration 30s] [-audits 200] [-findings 100]
//
// It builds varde, starts a throwaway cluster, stores -audits audits (the last with -findings findings),
// and runs `varde serve --api-only` on loopback with rate limiting off: the server, Postgres and the load
// generator share this machine, so the figures are for all three on one host.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/varde/varde/api"
	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/schedule"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp"
	"github.com/varde/varde/token"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/api:", err)
		os.Exit(1)
	}
}

func run() error {
	rate := flag.Int("rate", 500, "requests per second")
	duration := flag.Duration("duration", 30*time.Second, "attack length per endpoint")
	nAudits := flag.Int("audits", 200, "audits stored")
	nFindings := flag.Int("findings", 100, "findings of the audit whose findings are fetched")
	warmup := flag.Duration("warmup", 3*time.Second, "uncounted attack at the same rate before each measured one")
	flag.Parse()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "varde-bench-api-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "varde")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/varde").CombinedOutput(); err != nil {
		return fmt.Errorf("build varde: %v\n%s", err, out)
	}
	c, err := pgtemp.Start(ctx, pgtemp.Config{})
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	if err := c.CreateDatabase(ctx, "varde"); err != nil {
		return err
	}
	owner, writer := c.URLAs(pgtemp.OwnerRole, "varde"), c.URLAs(pgtemp.WriterRole, "varde")
	ownerStore, err := storage.Open(ctx, storage.Config{DatabaseURL: owner, SkipSchemaCheck: true})
	if err != nil {
		return err
	}
	_, err = ownerStore.Migrate(ctx)
	ownerStore.Close()
	if err != nil {
		return err
	}
	if _, err := schedule.Migrate(ctx, owner, nil); err != nil {
		return err
	}
	st, err := storage.Open(ctx, storage.Config{DatabaseURL: writer})
	if err != nil {
		return err
	}
	defer st.Close()
	last, err := seed(ctx, st, *nAudits, *nFindings)
	if err != nil {
		return err
	}
	// The seeding wrote much WAL: analyze the tables and checkpoint now, so the measured seconds are
	// not spent in the checkpoint or the autovacuum that a freshly loaded database would run anyway.
	if conn, err := pgx.Connect(ctx, c.URL("varde")); err == nil {
		_, err = conn.Exec(ctx, "VACUUM ANALYZE")
		if err == nil {
			_, err = conn.Exec(ctx, "CHECKPOINT")
		}
		conn.Close(ctx)
		if err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
	} else {
		return err
	}
	tok, err := api.IssueToken(ctx, st, "bench", []string{string(token.AuditsRead)}, time.Hour, "bench/api", time.Now())
	if err != nil {
		return err
	}

	srv := exec.Command(bin, "--database-url", writer, "serve", "--api-only", "--listen", "127.0.0.1:0", "--rate-limit", "-1")
	srv.Stderr = nil // its request log would cost the run; errors show in the results
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	buf := make([]byte, 256)
	n, err := stdout.Read(buf)
	if err != nil {
		return fmt.Errorf("varde serve did not start: %w", err)
	}
	base := strings.TrimSpace(strings.TrimPrefix(string(buf[:n]), "varde serve: listening on "))

	hdr := http.Header{"Authorization": {"Bearer " + tok.Token}}
	endpoints := []struct{ name, path string }{
		{"GET /v1/audits/{id}/findings", fmt.Sprintf("/v1/audits/%d/findings", last)},
		{"GET /v1/audits", "/v1/audits"},
	}
	fmt.Printf("varde serve (api-only) on %s; %d audits, %d findings in the audit fetched; %d req/s for %s per endpoint after %s of warm-up\n",
		base, *nAudits, *nFindings, *rate, *duration, *warmup)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("server, Postgres and load generator share this machine (%d cores, shared with other work; load average %s)\n",
		runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "))
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "endpoint\trequests\tp50\tp99\tmax\terrors\tserver CPU/req\tp99 < 50 ms\t")
	for _, e := range endpoints {
		tgt := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: base + e.path, Header: hdr})
		atk := vegeta.NewAttacker(vegeta.Timeout(10 * time.Second))
		// Warm-up, not counted: connections, the pool and Postgres's caches are filled first.
		for range vegeta.NewAttacker().Attack(tgt, vegeta.Rate{Freq: *rate, Per: time.Second}, *warmup, "warm-up") {
		}
		var m vegeta.Metrics
		cpu0 := cpuTime(srv.Process.Pid)
		for res := range atk.Attack(tgt, vegeta.Rate{Freq: *rate, Per: time.Second}, *duration, e.name) {
			m.Add(res)
		}
		m.Close()
		cpuPerReq := (cpuTime(srv.Process.Pid) - cpu0) / time.Duration(max(m.Requests, 1))
		errs := m.Requests - uint64(m.Success*float64(m.Requests)+0.5)
		ok := "yes"
		if m.Latencies.P99 >= 50*time.Millisecond || errs > 0 || m.Requests == 0 {
			ok = "NO"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t\n", e.name, m.Requests, ms(m.Latencies.P50), ms(m.Latencies.P99),
			ms(m.Latencies.Max), errs, ms(cpuPerReq), ok)
		if len(m.Errors) > 0 {
			defer fmt.Printf("%s errors: %s\n", e.name, strings.Join(m.Errors, "; "))
		}
	}
	return w.Flush()
}

// cpuTime is the user and system CPU time a process has used so far (Linux /proc), 0 when unknown. It
// says what one request costs the server, which the machine's other load does not change much.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// seed stores n finished audits and gives the last nf findings; it returns the last audit's ID.
func seed(ctx context.Context, st *storage.Store, n, nf int) (int64, error) {
	t0 := time.Date(2026, 10, 1, 6, 0, 0, 0, time.UTC)
	var id int64
	for i := range n {
		a, err := st.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindQuarterly, Organisation: "Benchfjord AS",
			StartedAt: t0.Add(time.Duration(i) * time.Minute), ToolVersion: "bench", RulesVersion: "bench",
			Config: json.RawMessage(`{"organisation":"Benchfjord AS"}`),
			Header: &storage.Header{Vantages: []storage.HeaderVantage{{Name: "oslo-nix-1", City: "Oslo", Latitude: 59.91, Longitude: 10.75}},
				Build: map[string]string{"module": "bench"}, RulesSHA256: "00"}})
		if err != nil {
			return 0, err
		}
		id = a.ID
		if i == n-1 {
			fs := make([]storage.Finding, nf)
			for j := range fs {
				fs[j] = storage.Finding{Subject: fmt.Sprintf("store-%d", j), RuleID: "residency.eea", Severity: "info",
					Verdict: string(residency.VerdictInEEA), LegalReference: "GDPR Art. 44", Summary: "stored in Norway", CreatedAt: t0,
					Evidence: json.RawMessage(`{"country":"NO","addresses":["192.0.2.10"]}`)}
			}
			if err := st.AppendFindings(ctx, a.ID, fs); err != nil {
				return 0, err
			}
		}
		if err := st.FinishAudit(ctx, a.ID, storage.StatusSucceeded, t0.Add(time.Duration(i)*time.Minute+time.Second)); err != nil {
			return 0, err
		}
	}
	return id, nil
}
