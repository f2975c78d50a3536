package main

// Fault tests: a real varde process is stopped by SIGINT or SIGTERM, or its Postgres is killed with
// SIGKILL, as each step of an audit starts. Afterwards every audit must be in a final state, every step
// the process said was done must be on record, each report file must have its reports row, and the
// evidence chain must hold.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp"
)

func TestFaults(t *testing.T) {
	dir, bin, c := faultSetup(t)
	ctx := context.Background()
	url := c.URL("postgres")
	if out, err := exec.Command(bin, "--database-url", url, "db", "migrate").CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	port := loopbackPort(t)
	cfg := fmt.Sprintf(`organisation: Feilfjord AS
period: 2026-Q3
vantages: [{name: oslo-nix-1, city: Oslo, latitude: 59.91, longitude: 10.75}]
probes: {icmp: false, tcp_count: 40, interval: 20ms}
targets: [{name: local, host: 127.0.0.1, port: %d}]
inventory: %s
guest: {snapshots: [%s]}
signing: {keys_dir: keys, init: true}
output_dir: out
`, port, mustAbs(t, "../../demo/stores.yaml"), collectSnapshot(t, bin, dir))
	cfgPath := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	type fault struct {
		name string
		do   func(p *os.Process) error
	}
	faults := []fault{
		{"SIGINT", func(p *os.Process) error { return p.Signal(syscall.SIGINT) }},
		{"SIGTERM", func(p *os.Process) error { return p.Signal(syscall.SIGTERM) }},
		{"postgres SIGKILL", func(*os.Process) error { return killCluster(c.Dir()) }},
	}
	for _, f := range faults {
		for _, step := range []string{"probes", "residency", "guest", "reports"} {
			t.Run(f.name+" at "+step, func(t *testing.T) {
				out := filepath.Join(dir, "out")
				os.RemoveAll(out)
				cmd := exec.Command(bin, "--database-url", url, "audit", "run", "--config", cfgPath)
				cmd.Dir = dir
				stderr, err := cmd.StderrPipe()
				if err != nil {
					t.Fatal(err)
				}
				var stdout strings.Builder
				cmd.Stdout = &stdout
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				// Read the progress lines; fire the fault as the step starts. done holds the steps the
				// process said it finished, each with the status it printed.
				done := map[string]string{}
				fired := false
				var lines []string
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					line := sc.Text()
					lines = append(lines, line)
					if !fired && line == "varde: "+step+": running" {
						if err := f.do(cmd.Process); err != nil {
							t.Fatalf("fault: %v", err)
						}
						fired = true
					}
					for _, st := range []string{"probes", "residency", "guest", "reports"} {
						for _, status := range []string{"succeeded", "skipped", "failed"} {
							if strings.HasPrefix(line, "varde: "+st+": "+status) {
								done[st] = status
							}
						}
					}
				}
				werr := cmd.Wait()
				code := 0
				var ee *exec.ExitError
				if errors.As(werr, &ee) {
					code = ee.ExitCode()
				}
				log := strings.Join(lines, "\n") + "\n" + stdout.String()
				if !fired {
					t.Fatalf("step %s never started:\n%s", step, log)
				}
				if f.name == "postgres SIGKILL" {
					// The cluster comes back; the audit whose process lost it is closed by recover.
					if _, err := pgtemp.Start(ctx, pgtemp.Config{Dir: c.Dir()}); err != nil {
						t.Fatalf("restart the cluster: %v", err)
					}
					if out, err := exec.Command(bin, "--database-url", url, "audit", "recover").CombinedOutput(); err != nil {
						t.Fatalf("audit recover: %v\n%s", err, out)
					}
				} else if want := map[string]int{"SIGINT": 130, "SIGTERM": 143}[f.name]; code != want && code != 0 {
					t.Errorf("exit status %d, want %d (or 0 if the run ended before the signal)\n%s", code, want, log)
				}
				checkAfterFault(t, url, bin, out, log, done)
			})
		}
	}
}

// checkAfterFault: no audit is running, every step the process reported done is on record with that
// status, each report file has its row and each row its file, and every audit's chain holds.
func checkAfterFault(t *testing.T, url, bin, outDir, log string, done map[string]string) {
	t.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	audits, err := s.ListAudits(ctx)
	if err != nil || len(audits) == 0 {
		t.Fatalf("audits: %v %v", audits, err)
	}
	for _, a := range audits {
		if !a.Status.Final() {
			t.Errorf("audit %d is %s after the fault\n%s", a.ID, a.Status, log)
		}
		out, err := exec.Command(bin, "--database-url", url, "verify", "--audit", strconv.FormatInt(a.ID, 10)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "holds") {
			t.Errorf("verify audit %d: %v\n%s", a.ID, err, out)
		}
	}
	last := audits[0] // newest first
	steps, err := s.Steps(ctx, last.ID)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{}
	for _, st := range steps {
		recorded[st.Step] = st.Status
	}
	for st, status := range done {
		// A step that failed because the database was gone cannot be on record; one that succeeded was
		// acknowledged by the database and must be there.
		if status != "failed" && recorded[st] != status {
			t.Errorf("audit %d: the process said %s %s, the database has %q\n%s", last.ID, st, status, recorded[st], log)
		}
	}
	reps, err := s.Reports(ctx, last.ID)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, r := range reps {
		rows[filepath.Base(r.Path)] = true
		if _, err := os.Stat(r.Path); err != nil {
			t.Errorf("reports row %d: its file: %v", r.ID, err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(outDir, "*.pdf"))
	for _, f := range files {
		if !rows[filepath.Base(f)] {
			t.Errorf("report file %s has no reports row\n%s", f, log)
		}
	}
}

// faultSetup builds varde and starts a cluster of the test's own, durable as `varde db start` makes
// them: fault tests kill it.
func faultSetup(t *testing.T) (dir, bin string, c *pgtemp.Cluster) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault tests build varde and run a cluster of their own")
	}
	dir, bin = buildVarde(t)
	c, err := pgtemp.Start(context.Background(), pgtemp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return dir, bin, c
}

// buildVarde builds the varde binary into a fresh temporary directory and returns both.
func buildVarde(t *testing.T) (dir, bin string) {
	t.Helper()
	dir = t.TempDir()
	bin = filepath.Join(dir, "varde")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build varde: %v\n%s", err, b)
	}
	return dir, bin
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// collectSnapshot writes a guest snapshot of the seed's Xen guest for the audit's guest step.
func collectSnapshot(t *testing.T, bin, dir string) string {
	t.Helper()
	snap := filepath.Join(dir, "guest.tar.gz")
	if out, err := exec.Command(bin, "guest", "collect", "--root", mustAbs(t, "../../guest/testdata/fixtures/centos6-xen-pv"), "-o", snap).CombinedOutput(); err != nil {
		t.Fatalf("guest collect: %v\n%s", err, out)
	}
	return snap
}

// killCluster kills a cluster's postmaster and every backend with SIGKILL: a crash, not a shutdown.
func killCluster(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		st, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// stat: pid (comm) state ppid ...
		rest := string(st[strings.LastIndexByte(string(st), ')')+2:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(strings.Fields(string(st))[0])
			syscall.Kill(child, syscall.SIGKILL)
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	// Wait until the socket stops answering, so the fault has happened before the step goes on.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); err != nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("postmaster %d still alive after SIGKILL", pid)
}
