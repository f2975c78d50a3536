//go:build linux

package agentsrv_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/varde/varde/agent"
	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/job"
	"github.com/varde/varde/probes"
	"github.com/varde/varde/probes/lab"
	"github.com/varde/varde/storage"
)

// childEnv marks a re-executed test binary as an agent process.
const childEnv = "VARDE_TEST_AGENT_CHILD"

// labTruth is the true RTT of each target from each vantage: the same two addresses, a different
// distance from each vantage namespace.
var labTruth = map[string]map[string]time.Duration{
	"oslo":      {"nix": 2 * time.Millisecond, "fra": 9 * time.Millisecond},
	"bergen":    {"nix": 3 * time.Millisecond, "fra": 8 * time.Millisecond},
	"stockholm": {"nix": 3 * time.Millisecond, "fra": 10 * time.Millisecond},
}

var labTargets = []string{"nix", "fra"} // in lab order: 198.18.0.2, 198.18.0.3

var labCoords = map[string][2]float64{"oslo": {59.91, 10.75}, "bergen": {60.39, 5.32}, "stockholm": {59.33, 18.07}}

// agentChild runs in a network namespace of its own (a vantage): it starts the lab there with this
// vantage's delays, enrols, and runs the agent until SIGTERM. The server is reached over a Unix socket,
// the only way out of the namespace, with TLS as over any network.
func agentChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "agent child:", err)
		return 1
	}
	vantage := os.Getenv("VARDE_TEST_VANTAGE")
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fail(fmt.Errorf("lo up: %v: %s", err, out))
	}
	var ts []lab.Target
	for _, name := range labTargets {
		ts = append(ts, lab.Target{Name: name, RTT: labTruth[vantage][name], Ports: []uint16{443}})
	}
	l, err := lab.StartPrivate(ctx, lab.Config{Targets: ts})
	if err != nil {
		return fail(err)
	}
	defer l.Close()
	pemCA, err := os.ReadFile(os.Getenv("VARDE_TEST_CA"))
	if err != nil {
		return fail(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	sock := os.Getenv("VARDE_TEST_SOCK")
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
	offset, _ := strconv.ParseInt(os.Getenv("VARDE_TEST_CLOCK_OFFSET"), 10, 64)
	// The three vantages share this machine's two CPUs, and each lab's delay line spins near a packet's
	// due time: measuring one vantage at a time keeps them from stealing each other's CPU, as vantages on
	// machines of their own would not. A file lock shared by the agent processes takes turns.
	lockf, err := os.OpenFile(os.Getenv("VARDE_TEST_MEASURE_LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fail(err)
	}
	defer lockf.Close()
	measure := func(ctx context.Context, v string, spec agentwire.Spec) ([]probes.Result, error) {
		if err := syscall.Flock(int(lockf.Fd()), syscall.LOCK_EX); err != nil {
			return nil, err
		}
		defer syscall.Flock(int(lockf.Fd()), syscall.LOCK_UN)
		rs, err := agent.Sweep(ctx, v, spec)
		if err == nil {
			err = writeGiven(l, filepath.Join(os.Getenv("VARDE_TEST_DIR"), "given.json"))
		}
		return rs, err
	}
	cfg := agent.Config{Server: "https://127.0.0.1" + agentwire.Prefix, Dir: os.Getenv("VARDE_TEST_DIR"),
		HTTPClient: &http.Client{Transport: tr}, Version: "lab-" + vantage, Measure: measure, LeaseWait: time.Second, Retry: 200 * time.Millisecond,
		Now:    func() time.Time { return time.Now().Add(time.Duration(offset)) },
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if _, err := agent.Enrol(ctx, cfg, os.Getenv("VARDE_AGENT_TOKEN"), vantage, "lab-"+vantage); err != nil {
		return fail(err)
	}
	a, err := agent.Open(cfg)
	if err != nil {
		return fail(err)
	}
	if err := a.Run(ctx); err != nil && ctx.Err() == nil {
		return fail(err)
	}
	return 0
}

// writeGiven writes, per target and probe kind, the median RTT this vantage's lab really gave (its
// nominal delay plus however late its delay line was), for the test to judge the stored medians by.
// A lab on a busy machine is sometimes late; a probe is accurate when it reports what the lab gave.
func writeGiven(l *lab.Lab, path string) error {
	xs, _ := l.Exchanges()
	given := map[string][]time.Duration{}
	for _, x := range xs {
		kind := map[lab.ExchangeKind]probes.Kind{lab.ExchangeEcho: probes.KindICMP, lab.ExchangeHandshake: probes.KindTCP}[x.Kind]
		given[x.Name+" "+string(kind)] = append(given[x.Name+" "+string(kind)], x.Given())
	}
	med := map[string]time.Duration{}
	for k, ds := range given {
		slices.Sort(ds)
		med[k] = ds[len(ds)/2]
		if len(ds)%2 == 0 {
			med[k] = (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
		}
	}
	b, err := json.Marshal(med)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// readGiven is what writeGiven wrote for a vantage.
func readGiven(t *testing.T, dir string) map[string]time.Duration {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "given.json"))
	if err != nil {
		t.Fatalf("the lab's record: %v", err)
	}
	var med map[string]time.Duration
	if err := json.Unmarshal(b, &med); err != nil {
		t.Fatal(err)
	}
	return med
}

// Acceptance 1: three agents in three lab namespaces, each with its own true RTT to the same two
// targets. The audit stores each vantage's measurements within 0.3 ms of its truth, signed by that
// vantage's agent, and the discs of the three vantages intersect in less than any one of them.
func TestThreeVantagesInLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the latency lab needs root")
	}
	if err := lab.Available(); err != nil {
		t.Skipf("latency lab unavailable: %v", err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "server.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, nil, ln)
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	vantages := []string{"oslo", "bergen", "stockholm"}
	agentOf := map[string]int64{}
	for _, v := range vantages {
		tok, err := e.srv.CreateEnrolment(ctx, v, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", "VARDE_TEST_VANTAGE="+v, "VARDE_TEST_CA="+ca, "VARDE_TEST_SOCK="+sock,
			"VARDE_AGENT_TOKEN="+tok, "VARDE_TEST_DIR="+filepath.Join(dir, v), "VARDE_TEST_MEASURE_LOCK="+filepath.Join(dir, "measure.lock"),
			"VARDE_TEST_CLOCK_OFFSET="+strconv.FormatInt(int64(e.clock.Now().Sub(time.Now())), 10))
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
		var stderr strings.Builder
		cmd.Stderr, cmd.Stdout = &stderr, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			if t.Failed() && stderr.Len() > 0 {
				t.Logf("agent %s: %s", v, stderr.String())
			}
		})
	}

	inv := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(inv, []byte(`stores:
  - {name: journal, host: 198.18.0.2, kind: postgres, purpose: p, data_category: ordinary, role: controller}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	geo := labGeoIP(t, dir, e.clock.Now())
	yes := true
	cfg := &job.Config{Organisation: "Fjordnett AS", Kind: job.KindSalesComparison, Vantage: "oslo", Inventory: inv,
		GeoIPDBs: []string{geo},
		Probes: job.Probes{ICMP: &yes, Count: 20, TCPCount: 5, Interval: job.Duration(20 * time.Millisecond),
			Timeout: job.Duration(time.Second), AgentDeadline: job.Duration(2 * time.Minute)},
		Signing: job.Signing{KeysDir: filepath.Join(dir, "keys"), Init: true}, OutputDir: filepath.Join(dir, "out")}
	for _, v := range vantages {
		cfg.Vantages = append(cfg.Vantages, job.Vantage{Name: v, Latitude: labCoords[v][0], Longitude: labCoords[v][1], Agent: true})
	}
	for i, name := range labTargets {
		cfg.Targets = append(cfg.Targets, job.Target{Name: name, Host: fmt.Sprintf("198.18.0.%d", i+2), Port: 443})
	}
	res, err := job.Run(ctx, cfg, job.Options{Store: e.store, Now: e.clock.Now, Remote: e.srv})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != storage.StatusSucceeded || !res.Chain.OK() {
		t.Fatalf("audit %s, chain %+v, steps %+v", res.Status, res.Chain, res.Steps)
	}
	for _, a := range mustAgents(t, e) {
		agentOf[a.Vantage] = a.ID
	}
	ms, err := e.store.Measurements(ctx, res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	minRTT := map[string]time.Duration{} // vantage → min RTT to nix
	seen := 0
	for _, m := range ms {
		truth := labTruth[m.Vantage][m.Target]
		st := job.StatsOf(m)
		if st.Received == 0 {
			t.Errorf("%s → %s (%s): nothing received", m.Vantage, m.Target, m.ProbeKind)
			continue
		}
		seen++
		// The truth is what the lab gave: its nominal delay, plus however late a busy machine made it.
		gave, ok := readGiven(t, filepath.Join(dir, m.Vantage))[m.Target+" "+m.ProbeKind]
		if !ok {
			t.Fatalf("%s → %s (%s): the lab recorded no exchanges", m.Vantage, m.Target, m.ProbeKind)
		}
		if gave < truth {
			t.Errorf("%s → %s (%s): the lab gave %v, less than its nominal %v", m.Vantage, m.Target, m.ProbeKind, gave, truth)
		}
		if d := st.Median - gave; d < -300*time.Microsecond || d > 300*time.Microsecond {
			t.Errorf("%s → %s (%s): median %v, the lab gave %v (nominal %v): off by more than 0.3 ms", m.Vantage, m.Target,
				m.ProbeKind, st.Median, gave, truth)
		}
		t.Logf("%-9s → %s %-4s median %7.3f ms, min %7.3f ms, lab gave %7.3f ms (nominal %v)", m.Vantage, m.Target, m.ProbeKind,
			float64(st.Median)/1e6, float64(st.Min)/1e6, float64(gave)/1e6, truth)
		pv := provenanceOf(t, m)
		if int64(pv["agent_id"].(float64)) != agentOf[m.Vantage] || pv["agent_version"] != "lab-"+m.Vantage {
			t.Errorf("%s → %s: provenance %v, want agent %d", m.Vantage, m.Target, pv, agentOf[m.Vantage])
		}
		checkSignature(t, e, pv)
		if m.Target == "nix" && m.ProbeKind == "icmp" {
			minRTT[m.Vantage] = st.Min
		}
	}
	if seen != len(vantages)*len(labTargets)*2 {
		t.Errorf("%d measurements with replies, want %d", seen, len(vantages)*len(labTargets)*2)
	}
	narrower(t, minRTT)
	// The sales comparison shows each vantage's view.
	salesPDF := ""
	for _, r := range res.Reports {
		if r.Kind == string(job.ReportSales) {
			salesPDF = r.Path
		}
	}
	if txt, err := exec.Command("pdftotext", "-layout", salesPDF, "-").Output(); err != nil {
		t.Errorf("sales report %q: %v", salesPDF, err)
	} else {
		for _, want := range []string{"(from bergen)", "(from stockholm)", "remote agent"} {
			if !strings.Contains(strings.Join(strings.Fields(string(txt)), " "), want) {
				t.Errorf("sales report lacks %q", want)
			}
		}
	}
	// The residency check itself intersected the three discs for the store's address.
	fs, err := e.store.Findings(ctx, res.AuditID)
	if err != nil {
		t.Fatal(err)
	}
	intersected := false
	for _, f := range fs {
		text := f.Summary + " " + string(f.Evidence)
		if strings.Contains(text, "198.18.0.2") && strings.Contains(text, "intersected with the discs from") {
			intersected = true
			t.Logf("finding: %s", f.Summary)
		}
	}
	if !intersected {
		t.Errorf("no residency finding intersects the vantages' discs for 198.18.0.2; findings: %d", len(fs))
		for _, f := range fs {
			t.Logf("%s: %s", f.RuleID, f.Summary)
		}
	}
}

// labGeoIP writes a GeoIP2-Country database that places the lab's block in Norway, so the residency
// check has a claim to test the three discs against.
func labGeoIP(t *testing.T, dir string, built time.Time) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-Country", RecordSize: 24, IncludeReservedNetworks: true,
		BuildEpoch: built.Unix(), Description: map[string]string{"en": "varde agents lab"}})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("198.18.0.0/22")
	rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("NO")},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("NO")}}
	if err := w.Insert(n, rec); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "lab-country.mmdb")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustAgents(t *testing.T, e *env) []storage.Agent {
	t.Helper()
	as, err := e.store.Agents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// checkSignature verifies, from what is stored alone, that the measurement's result was signed by the
// key the chain names: the body in agent_results hashes to result_sha256 and the signature verifies.
func checkSignature(t *testing.T, e *env, pv map[string]any) {
	t.Helper()
	body, sig := e.resultOf(t, int64(pv["task"].(float64)), int(pv["attempt"].(float64)))
	pub, _ := base64.StdEncoding.DecodeString(pv["public_key"].(string))
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != pv["result_sha256"] || base64.StdEncoding.EncodeToString(sig) != pv["signature"] ||
		!agentwire.VerifyResult(ed25519.PublicKey(pub), body, sig) {
		t.Errorf("task %v: the stored result does not verify against the chain's provenance", pv["task"])
	}
	if c, ok := pv["clock"].(map[string]any); !ok || c["source"] == "" {
		t.Errorf("no clock state in provenance: %v", pv)
	}
}

// narrower checks that the three vantages' discs (the residency check's radius: speed of light plus
// tolerance) intersect in a region smaller than the smallest disc, by counting points of a grid.
func narrower(t *testing.T, minRTT map[string]time.Duration) {
	t.Helper()
	if len(minRTT) != 3 {
		t.Fatalf("min RTTs to nix from %d vantages, want 3", len(minRTT))
	}
	type disc struct {
		lat, lon, r float64
	}
	var discs []disc
	for v, rtt := range minRTT {
		o := residency.RTTObservation{MinRTT: rtt, Received: 1}
		discs = append(discs, disc{labCoords[v][0], labCoords[v][1], o.RadiusKm()})
	}
	in := make([]int, len(discs))
	both := 0
	for lat := 52.0; lat <= 68; lat += 0.05 {
		for lon := -5.0; lon <= 32; lon += 0.05 {
			all := true
			for i, d := range discs {
				if residency.GreatCircleKm(lat, lon, d.lat, d.lon) <= d.r {
					in[i]++
				} else {
					all = false
				}
			}
			if all {
				both++
			}
		}
	}
	sort.Ints(in)
	if both == 0 || both >= in[0] {
		t.Errorf("intersection %d grid points, smallest disc %d: not narrower", both, in[0])
	}
	t.Logf("discs %v km: grid points per disc %v, in the intersection %d (%.0f%% of the smallest)", discs, in, both,
		100*float64(both)/float64(in[0]))
}
