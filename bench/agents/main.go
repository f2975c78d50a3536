// Command agents benchmarks result ingest from remote vantage agents: N agent processes (this binary,
// re-executed) each take their vantage's task every round and post a signed result of T targets × S
// samples to one agent server over HTTPS, backed by a throwaway Postgres. The samples are synthetic
// (the agents do not measure 1,000 real targets): what is measured is the server's side, signature
// checks, the (task, attempt) bookkeeping and the stored body, and then the job side appending every
// result to its audit's chain.
//
//	go run ./bench/agents [-agents 20] [-targets 1000] [-samples 5] [-rounds 10]
//
// It prints accepted samples/s (from the first result post's start to the last one's end, over every
// agent), result-post latency percentiles, and the rate at which the results reached the chains.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/varde/varde/agent"
	"github.com/varde/varde/agentsrv"
	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/job"
	"github.com/varde/varde/probes"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp"
)

func main() {
	var err error
	if os.Getenv("VARDE_BENCH_CHILD") != "" {
		err = child()
	} else {
		err = parent()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agents:", err)
		os.Exit(1)
	}
}

// post is one result post as a child saw it.
type post struct {
	Start  int64 `json:"start"` // Unix ns
	End    int64 `json:"end"`
	Status int   `json:"status"`
}

func parent() error {
	nAgents := flag.Int("agents", 20, "agent processes")
	nTargets := flag.Int("targets", 1000, "targets per task")
	nSamples := flag.Int("samples", 5, "samples per target")
	rounds := flag.Int("rounds", 10, "tasks per agent")
	interval := flag.Duration("interval", time.Second, "a round's tasks are made this long after the last round's: the offered load")
	cpuProfile := flag.String("cpuprofile", "", "write the server process's CPU profile of the ingest here")
	flag.Parse()

	ctx := context.Background()

	c, err := pgtemp.Start(ctx, pgtemp.Config{NotDurable: true})
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	url := c.URL("postgres")
	if err := migrate(ctx, url); err != nil {
		return err
	}
	st, err := storage.Open(ctx, storage.Config{DatabaseURL: url, MaxConns: 24})
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := agentsrv.New(agentsrv.Config{Store: st, LeaseTTL: time.Minute, ResultPoll: time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "varde-bench-agents-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cert, caFile, err := selfSigned(dir)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	// The server's own time per result post, beside what the agents saw: the difference is transport and
	// waiting for a CPU.
	var hmu sync.Mutex
	var handled []time.Duration
	inner := http.StripPrefix(agentwire.Prefix, srv.Handler())
	mux.Handle(agentwire.Prefix+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inner.ServeHTTP(w, r)
		if r.URL.Path == agentwire.Prefix+agentwire.PathResult {
			hmu.Lock()
			handled = append(handled, time.Since(start))
			hmu.Unlock()
		}
	}))
	hs := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go hs.ServeTLS(ln, "", "")
	defer hs.Close()
	base := "https://" + ln.Addr().String() + agentwire.Prefix

	// Every round's tasks exist before the agents start: one audit per round, one task per vantage, as
	// job.Run makes them. Ingest is measured first; then each task's Probe (the audit's own process in
	// production) appends the stored results to the chains, timed on its own: in one process on this
	// machine the two would share the CPU and blur both figures.
	var targets []probes.Target
	spec := agentwire.Spec{ICMP: *nSamples, IntervalNS: int64(time.Millisecond), TimeoutNS: int64(time.Second)}
	for i := range *nTargets {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		targets = append(targets, probes.Target{Raw: fmt.Sprintf("t%04d", i), Host: a.String(), Port: 443})
		spec.Targets = append(spec.Targets, agentwire.Target{Name: fmt.Sprintf("t%04d", i), Host: a.String(), Port: 443})
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Hour)
	var audits []int64
	for range *rounds {
		a, err := st.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindAdHoc, ToolVersion: "bench", Header: &storage.Header{}})
		if err != nil {
			return err
		}
		audits = append(audits, a.ID)
	}
	// Rounds start once every agent is enrolled: round r's tasks appear at r × interval, as a scheduler
	// would make them, and the agents take them as they come.
	makeRounds := func() error {
		for {
			as, err := st.Agents(ctx)
			if err != nil {
				return err
			}
			if len(as) == *nAgents {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		t0 := time.Now()
		for r, id := range audits {
			time.Sleep(time.Until(t0.Add(time.Duration(r) * *interval)))
			for v := range *nAgents {
				if _, err := st.CreateAgentTask(ctx, storage.AgentTask{AuditID: id, Vantage: vantage(v), Spec: specJSON,
					Deadline: deadline, CreatedAt: time.Now()}); err != nil {
					return err
				}
			}
		}
		return nil
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	type childOut struct {
		posts []post
		err   error
		cpu   time.Duration
		sys   time.Duration
	}
	outs := make([]childOut, *nAgents)
	var cwg sync.WaitGroup
	for v := range *nAgents {
		tok, err := srv.CreateEnrolment(ctx, vantage(v), time.Hour)
		if err != nil {
			return err
		}
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), "VARDE_BENCH_CHILD=1", "VARDE_AGENT_TOKEN="+tok, "VARDE_BENCH_SERVER="+base,
			"VARDE_BENCH_CA="+caFile, "VARDE_BENCH_VANTAGE="+vantage(v), "VARDE_BENCH_ROUNDS="+strconv.Itoa(*rounds),
			"VARDE_BENCH_SAMPLES="+strconv.Itoa(*nSamples), "VARDE_BENCH_DIR="+filepath.Join(dir, vantage(v)))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var p post
				if json.Unmarshal(sc.Bytes(), &p) == nil {
					outs[v].posts = append(outs[v].posts, p)
				}
			}
			outs[v].err = cmd.Wait()
			if cmd.ProcessState != nil {
				outs[v].cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				outs[v].sys = cmd.ProcessState.SystemTime()
			}
		}()
	}
	if *cpuProfile != "" { // the ingest only
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	pg0 := postgresCPU(c.Dir())
	if err := makeRounds(); err != nil {
		return err
	}
	cwg.Wait()
	pprof.StopCPUProfile()
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	serverCPU := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	pgCPU := postgresCPU(c.Dir()) - pg0

	// The chains: every audit's vantages appended at once, as their audits' processes would.
	chainStart := time.Now()
	var wg sync.WaitGroup
	probeErrs := make(chan error, len(audits)**nAgents)
	for _, id := range audits {
		for v := range *nAgents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := srv.Probe(ctx, id, vantage(v), job.RemoteSpec{Targets: targets, ICMPCount: *nSamples,
					Interval: time.Millisecond, Timeout: time.Second, Deadline: deadline}); err != nil {
					probeErrs <- err
				}
			}()
		}
	}
	wg.Wait()
	chainTook := time.Since(chainStart)
	close(probeErrs)
	for err := range probeErrs {
		return fmt.Errorf("probe: %w", err)
	}

	var lat []time.Duration
	var first, last int64
	var agentCPU, agentSys time.Duration
	for _, o := range outs {
		agentCPU += o.cpu
		agentSys += o.sys
	}
	accepted, errs := 0, 0
	for v, o := range outs {
		if o.err != nil {
			return fmt.Errorf("agent %s: %w", vantage(v), o.err)
		}
		for _, p := range o.posts {
			if p.Status != http.StatusOK {
				errs++
				continue
			}
			accepted++
			lat = append(lat, time.Duration(p.End-p.Start))
			if first == 0 || p.Start < first {
				first = p.Start
			}
			last = max(last, p.End)
		}
	}
	if accepted == 0 {
		return fmt.Errorf("no result was accepted")
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	perPost := *nTargets * *nSamples
	window := time.Duration(last - first)
	rate := float64(accepted*perPost) / window.Seconds()
	chained := float64(accepted*perPost) / chainTook.Seconds()
	fmt.Printf("agent result ingest: %d agent processes × %d rounds (one every %v) × %d targets × %d samples, one server (TLS, Postgres)\n",
		*nAgents, *rounds, *interval, *nTargets, *nSamples)
	fmt.Printf("machine: %d CPUs, shared with other work during the run\n\n", runtime.NumCPU())
	fmt.Printf("%-34s %14s %10s\n", "figure", "value", "target")
	fmt.Printf("%-34s %14.0f %10s\n", "offered samples/s", float64(*nAgents*perPost)/interval.Seconds(), "")
	fmt.Printf("%-34s %14d %10s\n", "result posts accepted", accepted, "")
	fmt.Printf("%-34s %14d %10s\n", "result posts refused or failed", errs, "0")
	fmt.Printf("%-34s %14.0f %10s\n", "accepted samples/s", rate, "≥100000")
	fmt.Printf("%-34s %14s %10s\n", "result-post latency p50", pct(0.50).Round(time.Microsecond), "")
	fmt.Printf("%-34s %14s %10s\n", "result-post latency p99", pct(0.99).Round(time.Microsecond), "<200ms")
	fmt.Printf("%-34s %14s %10s\n", "result-post latency max", lat[len(lat)-1].Round(time.Microsecond), "")
	fmt.Printf("%-34s %14s %10s\n", "CPU per post: agent process", (agentCPU / time.Duration(accepted)).Round(time.Microsecond), "")
	fmt.Printf("%-34s %14s %10s\n", "  of which in the kernel", (agentSys / time.Duration(accepted)).Round(time.Microsecond), "")
	fmt.Printf("%-34s %14s %10s\n", "CPU per post: server process", (serverCPU / time.Duration(accepted)).Round(time.Microsecond), "")
	fmt.Printf("%-34s %14s %10s\n", "CPU per post: Postgres", (pgCPU / time.Duration(accepted)).Round(time.Microsecond), "")
	slices.Sort(handled)
	fmt.Printf("%-34s %14s %10s\n", "server time per post p50", handled[len(handled)/2].Round(time.Microsecond), "")
	fmt.Printf("%-34s %14s %10s\n", "server time per post p99", handled[min(len(handled)-1, len(handled)*99/100)].Round(time.Microsecond), "")
	fmt.Printf("%-34s %14.0f %10s\n", "samples/s appended to the chains", chained, "")
	fmt.Printf("%-34s %14.2f %10s\n", "accepted samples/s ÷ target", rate/100000, "≥1")
	return nil
}

// postgresCPU is the CPU time so far of the cluster's postmaster and its live children (the
// connections stay open through the ingest), from /proc; 0 where that cannot be read.
func postgresCPU(dir string) time.Duration {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	pm, _, _ := strings.Cut(string(b), "\n")
	ents, _ := os.ReadDir("/proc")
	var ticks int64
	for _, e := range ents {
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: state ppid ... utime (14th) stime (15th).
		i := strings.LastIndexByte(string(st), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) < 13 || (e.Name() != pm && f[1] != pm) {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

func vantage(i int) string { return fmt.Sprintf("vantage-%02d", i) }

// migrate brings the database to this binary's schema.
func migrate(ctx context.Context, url string) error {
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: url, SkipSchemaCheck: true})
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.Migrate(ctx)
	return err
}

// selfSigned makes the server's certificate for 127.0.0.1 and writes it as the agents' CA file.
func selfSigned(dir string) (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "varde bench"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, p, nil
}

// child is one agent process: enrol, then take and answer rounds tasks with synthetic samples,
// printing every result post as a JSON line.
func child() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if p := os.Getenv("VARDE_BENCH_CHILD_PROFILE"); p != "" && os.Getenv("VARDE_BENCH_VANTAGE") == vantage(0) {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rounds, _ := strconv.Atoi(os.Getenv("VARDE_BENCH_ROUNDS"))
	samples, _ := strconv.Atoi(os.Getenv("VARDE_BENCH_SAMPLES"))
	out := json.NewEncoder(os.Stdout)
	var mu sync.Mutex
	done := 0
	cfg := agent.Config{Server: os.Getenv("VARDE_BENCH_SERVER"), CAFile: os.Getenv("VARDE_BENCH_CA"), Dir: os.Getenv("VARDE_BENCH_DIR"),
		Version: "bench", LeaseWait: 5 * time.Second, Retry: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Measure: func(_ context.Context, v string, spec agentwire.Spec) ([]probes.Result, error) {
			return synthetic(v, spec, samples), nil
		},
		Observe: func(path string, status int, took time.Duration) {
			if path != agentwire.PathResult {
				return
			}
			end := time.Now()
			mu.Lock()
			defer mu.Unlock()
			out.Encode(post{Start: end.Add(-took).UnixNano(), End: end.UnixNano(), Status: status})
			if status == http.StatusOK {
				if done++; done == rounds {
					cancel()
				}
			}
		}}
	if _, err := agent.Enrol(ctx, cfg, os.Getenv("VARDE_AGENT_TOKEN"), os.Getenv("VARDE_BENCH_VANTAGE"), "bench"); err != nil {
		return err
	}
	a, err := agent.Open(cfg)
	if err != nil {
		return err
	}
	if err := a.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// synthetic answers a task with samples around 2 ms, varying by target and sample.
func synthetic(v string, spec agentwire.Spec, samples int) []probes.Result {
	now := time.Now()
	out := make([]probes.Result, 0, len(spec.Targets))
	for i, t := range spec.Targets {
		r := probes.Result{Vantage: v, Target: t.Name, Address: netip.MustParseAddr(t.Host), Kind: probes.KindICMP, Started: now}
		for k := range samples {
			r.Samples = append(r.Samples, probes.Sample{Seq: k, SentAt: now.Add(time.Duration(k) * time.Millisecond),
				RTT: 2*time.Millisecond + time.Duration((i*7+k*13)%100)*time.Microsecond, Received: true, RTTSource: "kernel"})
		}
		out = append(out, r)
	}
	return out
}
