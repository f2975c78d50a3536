package console

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/varde/varde/agent"
	"github.com/varde/varde/agentsrv"
	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/token"
)

// fleet is what agentFleet enrolled.
type fleet struct {
	bergen, bergenIdle, oslo, stockholm int64 // agent IDs
	stockholmAudit                      int64 // the audit whose stockholm task closed unavailable
}

// agentFleet enrols real agents through the agent protocol server (agentsrv, on this env's database)
// and lets some of them report, each with the clock state it is given:
//
//   - oslo: monitored, reports once with an unsynchronised clock, then falls silent for an hour: stale;
//   - bergen: enrolled as 1.0.0, runs as 1.1.0, reports with a synchronised clock: live;
//   - a second bergen agent that never runs: never seen;
//   - stockholm: enrolled and never heard from, with an audit task that closed unavailable;
//   - malmo: only an enrolment token, no agent.
//
// The agents' clock runs at real speed from the env's (the monitoring loop needs time to pass); at the
// end the console's clock is set five minutes after bergen was last heard from.
func agentFleet(t testing.TB, e *env) fleet {
	t.Helper()
	ctx := context.Background()
	base, start := e.clock.Now(), time.Now()
	var skip atomic.Int64
	now := func() time.Time { return base.Add(time.Since(start) + time.Duration(skip.Load())) }
	srv, err := agentsrv.New(agentsrv.Config{Store: e.store, Now: now, Poll: 50 * time.Millisecond, MaxWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(agentwire.Prefix+"/", http.StripPrefix(agentwire.Prefix, srv.Handler()))
	ts := httptest.NewTLSServer(mux)
	t.Cleanup(ts.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	spec := agentwire.Spec{TCP: 2, IntervalNS: int64(5 * time.Millisecond), TimeoutNS: int64(time.Second),
		Targets: []agentwire.Target{{Name: "loopback", Host: host, Port: uint16(p)}}}
	for _, v := range []string{"oslo", "bergen"} {
		if err := srv.SetMonitor(ctx, v, spec, time.Second); err != nil {
			t.Fatal(err)
		}
	}

	cfg := func(version string, clock agentwire.Clock) agent.Config {
		return agent.Config{Server: ts.URL + agentwire.Prefix, Dir: t.TempDir(), HTTPClient: ts.Client(), Now: now,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LeaseWait: time.Second, Retry: 100 * time.Millisecond,
			MonitorPoll: 100 * time.Millisecond, Version: version, Clock: func() agentwire.Clock { return clock }}
	}
	enrol := func(vantage, name string, c agent.Config) int64 {
		t.Helper()
		tok, err := srv.CreateEnrolment(ctx, vantage, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		id, err := agent.Enrol(ctx, c, tok, vantage, name)
		if err != nil {
			t.Fatal(err)
		}
		return id.AgentID
	}
	// run runs an agent until the server holds a summary of its.
	run := func(c agent.Config, id int64) {
		t.Helper()
		a, err := agent.Open(c)
		if err != nil {
			t.Fatal(err)
		}
		actx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { a.Run(actx); close(done) }()
		defer func() { stop(); <-done }()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			avs, _, err := e.store.AgentOverview(ctx, now())
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range avs {
				if v.ID == id && v.ReportKind == "summary" {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("agent %d sent no summary in 20s", id)
			}
		}
	}

	var f fleet
	unsynced := agentwire.Clock{Source: "adjtimex", Synced: false, State: 5, Status: 0x41, MaxErrorUS: 16_000_000, EstErrorUS: 16_000_000}
	oc := cfg("1.1.0", unsynced)
	f.oslo = enrol("oslo", "oslo-a", oc)
	run(oc, f.oslo)
	skip.Add(int64(time.Hour))

	synced := agentwire.Clock{Source: "adjtimex", Synced: true, State: 0, Status: 0x2001, MaxErrorUS: 12_345, EstErrorUS: 250}
	bc := cfg("1.0.0", synced)
	f.bergen = enrol("bergen", "bergen-a", bc)
	bc.Version = "1.1.0" // the same agent, upgraded since it enrolled
	run(bc, f.bergen)
	f.bergenIdle = enrol("bergen", "bergen-b", cfg("1.1.0", synced))
	f.stockholm = enrol("stockholm", "stockholm-a", cfg("1.1.0", synced))
	if _, err := srv.CreateEnrolment(ctx, "malmo", time.Hour); err != nil {
		t.Fatal(err)
	}
	// An audit asked stockholm, whose agent never came: its task closed unavailable.
	a, err := e.store.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindAdHoc, Organisation: "Fjordnett AS",
		StartedAt: now(), ToolVersion: "test", RulesVersion: "test", Config: json.RawMessage(`{}`), Header: &storage.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	task, err := e.store.CreateAgentTask(ctx, storage.AgentTask{AuditID: a.ID, Vantage: "stockholm", Spec: json.RawMessage(`{}`),
		Deadline: now().Add(time.Minute), CreatedAt: now()})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := e.store.CloseAgentTaskUnavailable(ctx, task.ID); err != nil || !ok {
		t.Fatalf("close stockholm's task: %v %v", ok, err)
	}
	f.stockholmAudit = a.ID

	// The console's now: five minutes after bergen-a was last heard from.
	avs, _, err := e.store.AgentOverview(ctx, now())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range avs {
		if v.ID == f.bergen {
			e.clock.mu.Lock()
			e.clock.t = v.ReportAt.Add(5 * time.Minute)
			e.clock.mu.Unlock()
		}
	}
	return f
}

// agentRowHTML is agent id's table row on the agents page.
func agentRowHTML(t *testing.T, page string, id int64) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr id="agent-` + strconv.FormatInt(id, 10) + `".*?</tr>`).FindString(page)
	if m == "" {
		t.Fatalf("no row for agent %d in:\n%s", id, page)
	}
	return m
}

// vantageRowHTML is a vantage's row in the vantages table.
func vantageRowHTML(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr>\s*<th scope="row">` + regexp.QuoteMeta(name) + `</th>.*?</tr>`).FindString(page)
	if m == "" {
		t.Fatalf("no row for vantage %s in:\n%s", name, page)
	}
	return m
}

// The agents page shows each enrolled agent's vantage, status, last seen, version and clock state as the
// agents reported them through the agent protocol, flags vantages without a live agent, and lets an
// admin (only) revoke an agent, by a same-origin form, with the effect `varde agent revoke` has.
func TestAgentsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	f := agentFleet(t, e)
	ctx := context.Background()
	viewer := e.signIn(t, e.token(t, "reader", token.AuditsRead))
	resp, page := get(t, viewer, e.srv.URL+"/agents")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /agents as viewer: %s\n%s", resp.Status, page)
	}
	if !strings.Contains(page, `<a href="/agents" aria-current="page">Agents</a>`) {
		t.Error("the navigation does not link the agents page as current")
	}
	avs, _, err := e.store.AgentOverview(ctx, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	heard := map[int64]time.Time{}
	for _, v := range avs {
		if v.ReportAt != nil {
			heard[v.ID] = *v.ReportAt
		}
	}
	en := locale{"en"}
	for _, c := range []struct {
		id   int64
		want []string
		not  []string
	}{
		{f.bergen, []string{"bergen-a", "<td data-label=\"Vantage\" class=\"nowrap\">bergen</td>", "✔</span> live", "5 min ago", en.Time(heard[f.bergen]),
			"<code>1.1.0</code>", "(enrolled with 1.0.0)", "✔</span> synchronised", "maximum error 12.3 ms, estimated error 250 µs", "adjtimex state 0, status 0x2001"},
			[]string{"Revoke"}},
		{f.oslo, []string{"⚠</span> stale", "65 min ago", en.Time(heard[f.oslo]), "⚠</span> not synchronised", "maximum error 16.00 s"},
			[]string{"enrolled with"}},
		{f.bergenIdle, []string{"○</span> never seen", "never", "?</span> not reported yet"}, nil},
		{f.stockholm, []string{"never seen"}, nil},
	} {
		row := agentRowHTML(t, page, c.id)
		for _, w := range c.want {
			if !strings.Contains(row, w) {
				t.Errorf("agent %d: no %q in\n%s", c.id, w, row)
			}
		}
		for _, w := range c.not {
			if strings.Contains(row, w) {
				t.Errorf("agent %d: %q in\n%s", c.id, w, row)
			}
		}
	}
	for _, c := range []struct{ name, want string }{
		{"bergen", "✔</span> has a live agent"}, {"oslo", "✖</span> no live agent"}, {"stockholm", "✖</span> no live agent"},
		{"malmo", "✖</span> no live agent"},
	} {
		if row := vantageRowHTML(t, page, c.name); !strings.Contains(row, c.want) {
			t.Errorf("vantage %s: no %q in\n%s", c.name, c.want, row)
		}
	}
	if row := vantageRowHTML(t, page, "stockholm"); !strings.Contains(row, "/audits/"+itoa(f.stockholmAudit)) || !strings.Contains(row, "vantage_unavailable") {
		t.Errorf("stockholm's unavailable task not shown:\n%s", row)
	}
	if row := vantageRowHTML(t, page, "malmo"); !strings.Contains(row, `"Open enrolment tokens">1</td>`) || !strings.Contains(row, "0 of 0") {
		t.Errorf("malmo's open enrolment not shown:\n%s", row)
	}
	if !strings.Contains(page, "No live agent at malmo, oslo, stockholm. An audit measuring from such a vantage now would record it as vantage_unavailable.") {
		t.Error("the vantages without a live agent are not flagged")
	}

	// A viewer may not revoke: no link, and the form and the POST are refused.
	revoke := e.srv.URL + "/agents/" + itoa(f.bergen) + "/revoke"
	if r, _ := get(t, viewer, revoke); r.StatusCode != http.StatusForbidden {
		t.Errorf("viewer GET revoke form: %s", r.Status)
	}
	if r, _ := post(t, viewer, revoke, nil, "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusForbidden {
		t.Errorf("viewer POST revoke: %s", r.Status)
	}
	admin := e.signIn(t, e.adminToken(t))
	_, page = get(t, admin, e.srv.URL+"/agents")
	if !strings.Contains(agentRowHTML(t, page, f.bergen), `href="/agents/`+itoa(f.bergen)+`/revoke"`) {
		t.Error("an admin gets no revoke link")
	}
	// From another origin, refused, and the agent stays.
	if r, _ := post(t, admin, revoke, nil, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); r.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST revoke: %s", r.Status)
	}
	if a, err := e.store.AgentByID(ctx, f.bergen); err != nil || a.RevokedAt != nil {
		t.Fatalf("a cross-origin POST revoked the agent: %+v %v", a, err)
	}
	r, body := get(t, admin, revoke)
	if r.StatusCode != http.StatusOK || !strings.Contains(body, "Revocation is final") {
		t.Fatalf("revoke form: %s\n%s", r.Status, body)
	}
	r, _ = post(t, admin, revoke, nil, "Sec-Fetch-Site", "same-origin")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/agents?revoked="+itoa(f.bergen) {
		t.Fatalf("revoke: %s to %s", r.Status, r.Header.Get("Location"))
	}
	a, err := e.store.AgentByID(ctx, f.bergen)
	if err != nil || a.RevokedAt == nil || !a.RevokedAt.Equal(e.clock.Now()) {
		t.Fatalf("after revoking: %+v %v", a, err)
	}
	_, page = get(t, admin, e.srv.URL+"/agents?revoked="+itoa(f.bergen))
	if row := agentRowHTML(t, page, f.bergen); !strings.Contains(row, "⊘</span> revoked") || strings.Contains(row, "/revoke") {
		t.Errorf("revoked agent's row:\n%s", row)
	}
	if row := vantageRowHTML(t, page, "bergen"); !strings.Contains(row, "no live agent") || !strings.Contains(row, "0 of 1") {
		t.Errorf("bergen after its live agent was revoked:\n%s", row)
	}
	if !strings.Contains(page, "Agent "+itoa(f.bergen)+" revoked") {
		t.Error("no word that the agent was revoked")
	}
	// Again: it is revoked already.
	if r, _ := post(t, admin, revoke, nil, "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusConflict {
		t.Errorf("revoking twice: %s", r.Status)
	}
	if r, _ := get(t, admin, e.srv.URL+"/agents/99999/revoke"); r.StatusCode != http.StatusNotFound {
		t.Errorf("revoke form of no agent: %s", r.Status)
	}

	// In bokmål.
	_, page = get(t, admin, e.srv.URL+"/agents", "Accept-Language", "nb-NO")
	for _, w := range []string{"<h1>Agenter</h1>", "aldri hørt fra", "ikke synkronisert", "for 65 min siden", "ingen levende agent"} {
		if !strings.Contains(page, w) {
			t.Errorf("bokmål page lacks %q", w)
		}
	}
}

// The head of a body, where agentwire puts the version and clock, is enough; a body that puts its clock
// after the samples is read whole.
func TestReadAgentHead(t *testing.T) {
	t.Parallel()
	res := agentwire.Result{AgentVersion: "2.0", Clock: agentwire.Clock{Source: "adjtimex", Synced: true, MaxErrorUS: 7},
		Measurements: make([]agentwire.Measurement, 500)}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	says, ok := readAgentHead(b[:storage.AgentReportHead])
	if !ok || says.Version != "2.0" || says.Clock == nil || says.Clock.MaxErrorUS != 7 {
		t.Fatalf("head: %+v %v", says, ok)
	}
	late := []byte(`{"measurements":[` + strings.Repeat(`{"t":"x"},`, 1000) + `{"t":"x"}],"clock":{"source":"adjtimex"},"agent_version":"3"}`)
	if _, ok := readAgentHead(late[:storage.AgentReportHead]); ok {
		t.Error("a cut head read as complete")
	}
	if says, ok := readAgentHead(late); !ok || says.Version != "3" || says.Clock == nil {
		t.Errorf("whole body: %+v %v", says, ok)
	}
	if says, ok := readAgentHead([]byte(`{"agent_version":"4"}`)); !ok || says.Clock != nil {
		t.Errorf("a body without a clock: %+v %v", says, ok)
	}
}
