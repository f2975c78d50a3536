package agentsrv_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/varde/varde/agent"
	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/job"
	"github.com/varde/varde/probes"
)

// rawAgent speaks the protocol by hand, so a test can send what a real agent never would.
type rawAgent struct {
	e       *env
	id      int64
	vantage string
	key     ed25519.PrivateKey
}

func (e *env) rawEnrol(t *testing.T, vantage string) *rawAgent {
	t.Helper()
	tok, err := e.srv.CreateEnrolment(context.Background(), vantage, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	b, _ := json.Marshal(agentwire.EnrolRequest{Token: tok, Vantage: vantage, Name: "raw", PublicKey: pub, Version: "raw-1"})
	req, _ := http.NewRequest(http.MethodPost, e.url+agentwire.PathEnrol, bytes.NewReader(b))
	st, body := post(t, e.ts.Client(), req)
	if st != http.StatusOK {
		t.Fatalf("enrol: %d %s", st, body)
	}
	var er agentwire.EnrolResponse
	if err := json.Unmarshal([]byte(body), &er); err != nil {
		t.Fatal(err)
	}
	return &rawAgent{e: e, id: er.AgentID, vantage: vantage, key: key}
}

// do posts body to path, signed with the agent's key; hdr adds headers.
func (r *rawAgent) do(t *testing.T, path string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.e.url+path, bytes.NewReader(body))
	agentwire.SignRequest(req, r.id, r.key, path, body, r.e.clock.Now())
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return post(t, r.e.ts.Client(), req)
}

func (r *rawAgent) lease(t *testing.T) *agentwire.Task {
	t.Helper()
	b, _ := json.Marshal(agentwire.LeaseRequest{WaitMS: 1000})
	st, body := r.do(t, agentwire.PathLease, b, nil)
	if st == http.StatusNoContent {
		return nil
	}
	if st != http.StatusOK {
		t.Fatalf("lease: %d %s", st, body)
	}
	var task agentwire.Task
	if err := json.Unmarshal([]byte(body), &task); err != nil {
		t.Fatal(err)
	}
	return &task
}

// result makes a result body for task with one TCP measurement of 3 samples at rtt per target.
func (r *rawAgent) result(task *agentwire.Task, vantage string, rtt time.Duration) []byte {
	res := agentwire.Result{TaskID: task.TaskID, Attempt: task.Attempt, AgentID: r.id, Vantage: vantage, AgentVersion: "raw-1",
		Clock: agent.KernelClock(), Measured: r.e.clock.Now()}
	for _, tg := range task.Spec.Targets {
		m := agentwire.Measurement{Target: tg.Name, Address: tg.Host, Kind: "tcp", Port: tg.Port, Started: r.e.clock.Now()}
		for i := range 3 {
			m.Samples = append(m.Samples, agentwire.Sample{Seq: i, SentAt: r.e.clock.Now().UnixNano(), RTT: int64(rtt), Received: true})
		}
		res.Measurements = append(res.Measurements, m)
	}
	b, _ := json.Marshal(res)
	return b
}

// postResult posts body signed by signer (the agent itself, or another key).
func (r *rawAgent) postResult(t *testing.T, body []byte, signer ed25519.PrivateKey) (int, string) {
	t.Helper()
	sig := base64.StdEncoding.EncodeToString(agentwire.SignResult(signer, body))
	return r.do(t, agentwire.PathResult, body, map[string]string{agentwire.HeaderResultSignature: sig})
}

// startProbe runs the job side of one vantage's task in the background.
func (e *env) startProbe(auditID int64, vantage string, targets []string, deadline time.Duration) chan probeOutcome {
	ch := make(chan probeOutcome, 1)
	var ts []probes.Target
	for i, a := range targets {
		pt, err := probes.ParseTarget(a)
		if err != nil {
			e.t.Fatal(err)
		}
		pt.Raw = "target-" + string(rune('a'+i))
		ts = append(ts, pt)
	}
	go func() {
		rs, err := e.srv.Probe(context.Background(), auditID, vantage, job.RemoteSpec{Targets: ts, TCPCount: 3,
			Interval: 10 * time.Millisecond, Timeout: time.Second, Deadline: e.clock.Now().Add(deadline)})
		ch <- probeOutcome{rs, err}
	}()
	return ch
}

type probeOutcome struct {
	rs  []probes.Result
	err error
}

// wantRefusal checks that the server logged a refusal with status and a reason containing reason.
func (e *env) wantRefusal(t *testing.T, status int, reason string) {
	t.Helper()
	for _, m := range e.logs.refusals() {
		if int(m["status"].(float64)) == status && strings.Contains(m["reason"].(string), reason) {
			return
		}
	}
	t.Errorf("no refusal logged with status %d and reason %q; refusals: %v", status, reason, e.logs.refusals())
}

// Acceptance 3: an enrolment token used twice, a revoked agent, an agent posting for another vantage, a
// result with a bad signature: each refused, and logged.
func TestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()

	t.Run("token used twice", func(t *testing.T) {
		tok, err := e.srv.CreateEnrolment(ctx, "oslo", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := agent.Enrol(ctx, e.agentConfig(e.url), tok, "oslo", "first"); err != nil {
			t.Fatal(err)
		}
		_, err = agent.Enrol(ctx, e.agentConfig(e.url), tok, "oslo", "second")
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Fatalf("second enrolment with one token: %v", err)
		}
		e.wantRefusal(t, http.StatusForbidden, "enrolment token already used")
		if n := e.count(t, `SELECT count(*) FROM agents WHERE name = 'second'`); n != 0 {
			t.Errorf("%d agents enrolled by a spent token", n)
		}
		// A token is bound to its vantage too.
		tok2, _ := e.srv.CreateEnrolment(ctx, "oslo", time.Hour)
		if _, err := agent.Enrol(ctx, e.agentConfig(e.url), tok2, "bergen", "elsewhere"); err == nil {
			t.Fatal("a token for oslo enrolled an agent for bergen")
		}
		e.wantRefusal(t, http.StatusForbidden, "wrong vantage")
	})

	t.Run("revoked agent", func(t *testing.T) {
		a := e.enrol("tromso", nil)
		if err := e.store.RevokeAgent(ctx, a.Identity().AgentID, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := a.Run(rctx)
		if err == nil || !strings.Contains(err.Error(), "refuses this agent") {
			t.Fatalf("a revoked agent ran on: %v", err)
		}
		e.wantRefusal(t, http.StatusForbidden, "agent revoked")
		// Revocation is final, whoever tries to undo it.
		if err := e.store.RevokeAgent(ctx, a.Identity().AgentID, e.clock.Now()); err == nil {
			t.Error("revoking twice was not reported")
		}
	})

	t.Run("posting for another vantage", func(t *testing.T) {
		oslo, bergen := e.rawEnrol(t, "oslo"), e.rawEnrol(t, "bergen")
		auditID := e.newAudit()
		done := e.startProbe(auditID, "oslo", listeners(t, 2), time.Minute)
		var task *agentwire.Task
		for task == nil {
			task = oslo.lease(t)
		}
		// bergen claims oslo's vantage in the body, then its own with oslo's task.
		if st, body := bergen.postResult(t, bergen.result(task, "oslo", time.Millisecond), bergen.key); st != http.StatusForbidden {
			t.Errorf("result claiming another vantage: %d %s", st, body)
		}
		e.wantRefusal(t, http.StatusForbidden, "the request is agent")
		if st, body := bergen.postResult(t, bergen.result(task, "bergen", time.Millisecond), bergen.key); st != http.StatusForbidden {
			t.Errorf("result for another vantage's task: %d %s", st, body)
		}
		e.wantRefusal(t, http.StatusForbidden, "is for vantage oslo, the agent's is bergen")
		// bergen cannot lease oslo's task either: it gets nothing.
		if got := bergen.lease(t); got != nil {
			t.Errorf("bergen leased %+v", got)
		}

		t.Run("bad signature", func(t *testing.T) {
			body := oslo.result(task, "oslo", time.Millisecond)
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			if st, resp := oslo.postResult(t, body, other); st != http.StatusUnauthorized {
				t.Errorf("result signed by another key: %d %s", st, resp)
			}
			e.wantRefusal(t, http.StatusUnauthorized, "result signature does not verify")
			// A request signed by another key than the agent's own.
			impostor := &rawAgent{e: e, id: oslo.id, vantage: "oslo", key: other}
			if st, resp := impostor.postResult(t, body, other); st != http.StatusUnauthorized {
				t.Errorf("request signed by another key: %d %s", st, resp)
			}
			e.wantRefusal(t, http.StatusUnauthorized, "bad request signature")
			// A body changed after signing.
			tampered := bytes.Replace(body, []byte(",1000000,"), []byte(",900000,"), 1)
			if bytes.Equal(tampered, body) {
				t.Fatal("nothing to tamper with")
			}
			sig := base64.StdEncoding.EncodeToString(agentwire.SignResult(oslo.key, body))
			if st, resp := oslo.do(t, agentwire.PathResult, tampered, map[string]string{agentwire.HeaderResultSignature: sig}); st != http.StatusUnauthorized {
				t.Errorf("tampered body: %d %s", st, resp)
			}
			// A well-signed result that could never be stored: refused with the reason, while the agent listens.
			bad := bytes.Replace(body, []byte(`"k":"tcp"`), []byte(`"k":"udp"`), 1)
			if st, resp := oslo.postResult(t, bad, oslo.key); st != http.StatusBadRequest || !strings.Contains(resp, `kind \"udp\"`) {
				t.Errorf("unknown probe kind: %d %s", st, resp)
			}
			if n := e.count(t, `SELECT count(*) FROM agent_results`); n != 0 {
				t.Errorf("%d results stored from refused posts", n)
			}
			// The genuine result is taken, and the job appends it to the chain under oslo.
			if st, resp := oslo.postResult(t, body, oslo.key); st != http.StatusOK {
				t.Fatalf("genuine result: %d %s", st, resp)
			}
			out := <-done
			if out.err != nil || len(out.rs) != 2 || out.rs[0].Vantage != "oslo" {
				t.Fatalf("probe: %+v", out)
			}
			rep, err := e.store.Verify(ctx, auditID)
			if err != nil || !rep.OK() {
				t.Fatalf("chain: %+v %v", rep, err)
			}
		})
	})
}

// The writer role (what varde serve connects as) cannot undo a revocation, re-arm a spent token, or
// change or remove a stored result or lease.
func TestAgentRecordsFinal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	x := e.rawEnrol(t, "bergen")
	auditID := e.newAudit()
	done := e.startProbe(auditID, "bergen", listeners(t, 1), time.Minute)
	var task *agentwire.Task
	for task == nil {
		task = x.lease(t)
	}
	if st, body := x.postResult(t, x.result(task, "bergen", time.Millisecond), x.key); st != http.StatusOK {
		t.Fatalf("result: %d %s", st, body)
	}
	if o := <-done; o.err != nil {
		t.Fatal(o.err)
	}
	if err := e.store.RevokeAgent(ctx, x.id, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`UPDATE agents SET revoked_at = NULL`,
		`UPDATE agent_enrolments SET used_at = NULL`,
		`UPDATE agent_results SET body = 'x'`,
		`DELETE FROM agent_results`,
		`DELETE FROM agent_leases`,
		`UPDATE agent_leases SET agent_id = agent_id`,
		`DELETE FROM agents`,
		`TRUNCATE agent_results`,
	} {
		if _, err := conn.Exec(ctx, q); err == nil {
			t.Errorf("%s: allowed", q)
		}
	}
}
