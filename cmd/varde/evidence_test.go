package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp/pgtest"
)

// evidenceWorld is a database with two sealed audits made by `varde audit run`, the keys and checkpoints
// beside the config, and the checkpoint an auditor was handed after the second audit.
type evidenceWorld struct {
	urls      pgtest.URLs
	dir, keys string
	ids       [2]string
	pdf       string // the compliance report of the first audit
	handedOut string
	writer    *storage.Store
}

func newEvidenceWorld(t *testing.T) *evidenceWorld {
	t.Helper()
	w := &evidenceWorld{urls: pgtest.DatabaseRoles(t), dir: t.TempDir()}
	w.keys = filepath.Join(w.dir, "keys")
	if _, _, err := runT(t, w.urls.Owner, "db", "migrate"); err != nil {
		t.Fatal(err)
	}
	inventory, err := filepath.Abs("../../demo/stores.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`organisation: Testfjord AS
period: 2026-Q3
vantages: [{name: oslo-nix-1, city: Oslo, latitude: 59.91, longitude: 10.75}]
probes: {icmp: false, tcp_count: 3, interval: 5ms}
targets: [{name: local, host: 127.0.0.1, port: %d}]
inventory: %s
signing: {keys_dir: keys, init: true}
output_dir: out
`, loopbackPort(t), inventory)
	cfgPath := filepath.Join(w.dir, "audit.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range w.ids {
		out, _, err := runT(t, w.urls.Writer, "audit", "run", "--config", cfgPath)
		if err != nil {
			t.Fatalf("audit run: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`(?m)^audit (\d+) succeeded$`).FindStringSubmatch(out)
		cp := regexp.MustCompile(`(?m)^sealed: log leaf \d+; checkpoint (\S+)$`).FindStringSubmatch(out)
		pdf := regexp.MustCompile(`(?m)^verify: varde verify --pdf (\S+compliance\.pdf) --keys-dir`).FindStringSubmatch(out)
		if m == nil || cp == nil || pdf == nil {
			t.Fatalf("audit run output lacks the audit, checkpoint or verify --pdf line:\n%s", out)
		}
		w.ids[i] = m[1]
		if i == 0 {
			w.pdf = pdf[1]
		}
	}
	cps, err := filepath.Glob(filepath.Join(w.keys, "checkpoints", "checkpoint-*.txt"))
	if err != nil || len(cps) != 4 {
		t.Fatalf("checkpoints: %v %v (want one per seal and per set of reports)", cps, err)
	}
	b, err := os.ReadFile(cps[len(cps)-1])
	if err != nil {
		t.Fatal(err)
	}
	w.handedOut = filepath.Join(w.dir, "handed-out.txt")
	if err := os.WriteFile(w.handedOut, b, 0o644); err != nil {
		t.Fatal(err)
	}
	w.writer, err = storage.Open(context.Background(), storage.Config{DatabaseURL: w.urls.Writer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.writer.Close)
	return w
}

// tamper runs SQL as the Postgres superuser with every trigger off, as a hostile administrator would.
func (w *evidenceWorld) tamper(t *testing.T, qs ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.urls.Super)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if tag, err := conn.Exec(ctx, q); err != nil || tag.RowsAffected() == 0 {
			t.Fatalf("tamper %s: %v (%d rows)", q, err, tag.RowsAffected())
		}
	}
}

// rechain recomputes every hash of an audit's chain and its head from the rows' canonical encodings
// (replaced where given), so that the chain alone holds again.
func (w *evidenceWorld) rechain(t *testing.T, docs []storage.ChainDoc, replace map[int64][]byte) {
	t.Helper()
	var qs []string
	head := make([]byte, 32)
	var auditID string
	for _, d := range docs {
		canon := d.Canonical
		if r, ok := replace[d.Seq]; ok {
			canon = r
		}
		h := sha256.Sum256(append(append([]byte{}, head...), canon...))
		qs = append(qs, fmt.Sprintf(`UPDATE %s SET prev_hash = '\x%x', hash = '\x%x' WHERE id = %d`, d.Table, head, h, d.ID))
		head = h[:]
		var doc struct {
			AuditID json.Number `json:"audit_id"`
		}
		if err := json.Unmarshal(d.Canonical, &doc); err != nil {
			t.Fatal(err)
		}
		auditID = doc.AuditID.String()
	}
	qs = append(qs, fmt.Sprintf(`UPDATE audits SET chain_head = '\x%x', chain_length = %d WHERE id = %s`, head, len(docs), auditID))
	w.tamper(t, qs...)
}

// forge rewrites an audit's rows with sqls and then, row by row, recomputes each changed row's hash and
// every hash after it, and the head: the chain holds again, as a careful attacker leaves it.
func (w *evidenceWorld) forge(t *testing.T, id string, sqls ...string) {
	t.Helper()
	orig := w.docs(t, id)
	w.tamper(t, sqls...)
	var n int64
	fmt.Sscan(id, &n)
	replace := map[int64][]byte{}
	for range len(orig) + 1 {
		rep, docs, err := w.writer.ChainDocs(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() {
			return
		}
		d := docs[len(docs)-1]
		if bytes.Equal(d.Canonical, orig[len(docs)-1].Canonical) {
			t.Fatalf("forge: the chain breaks at an unchanged row: %s", rep.Bad)
		}
		replace[d.Seq] = d.Canonical
		w.rechain(t, orig, replace)
	}
	t.Fatal("forge: the chain does not settle")
}

func (w *evidenceWorld) docs(t *testing.T, id string) []storage.ChainDoc {
	t.Helper()
	var n int64
	fmt.Sscan(id, &n)
	rep, docs, err := w.writer.ChainDocs(context.Background(), n)
	if err != nil || !rep.OK() {
		t.Fatalf("chain of audit %s: %+v %v", id, rep, err)
	}
	return docs
}

// check runs varde verify (on the audit and, when given, a PDF) and the independent Python verifier on
// a bundle exported now, and returns their outputs and whether each passed.
func (w *evidenceWorld) check(t *testing.T, id string, pdf string, extra ...string) (goOut string, goOK bool, pyOut string, pyOK bool) {
	t.Helper()
	var flags []string
	for _, c := range extra {
		flags = append(flags, "--checkpoint", c)
	}
	args := append([]string{"verify", "--audit", id, "--keys-dir", w.keys}, flags...)
	out, _, err := runT(t, w.urls.Writer, args...)
	goOut, goOK = out, err == nil
	if err != nil {
		goOut += "error: " + err.Error()
	}
	if pdf != "" {
		out, _, err := runT(t, w.urls.Writer, append([]string{"verify", "--pdf", pdf, "--keys-dir", w.keys}, flags...)...)
		goOut += "\n--pdf: " + out
		if err != nil {
			goOut += "error: " + err.Error()
		}
		goOK = goOK && err == nil
	}
	bundle := filepath.Join(w.dir, "bundle-"+id+".json")
	if out, _, err := runT(t, w.urls.Writer, "evidence", "export", "--audit", id, "--keys-dir", w.keys, "-o", bundle); err != nil {
		t.Fatalf("evidence export: %v %s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(w.keys, evidencelog.PubKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	// The auditor checks with the key they were given, not the one the bundle carries.
	pyArgs := append([]string{"../../docs/verify-bundle.py", bundle, "--log-key", strings.TrimSpace(string(pub))}, flags...)
	py, err := exec.Command("python3", pyArgs...).CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("python3: %v", err)
		}
	}
	return goOut, goOK, string(py), err == nil
}

func needPython(t *testing.T) {
	for _, tool := range []string{"python3", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing in CI", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// The issue-11 attacks, each on its own database as the superuser with triggers disabled and every
// hash and head recomputed consistently: `varde verify` (on the audit and on its signed PDF) and the
// independent Python verifier (on an exported bundle) both pass the untouched evidence and both fail each
// attack, naming what changed.
func TestEvidenceAttacksAreDetected(t *testing.T) {
	needPython(t)
	t.Run("untouched", func(t *testing.T) {
		w := newEvidenceWorld(t)
		for i, id := range w.ids {
			pdf := ""
			if i == 0 {
				pdf = w.pdf
			}
			goOut, goOK, py, pyOK := w.check(t, id, pdf, w.handedOut)
			if !goOK || !pyOK || !strings.Contains(py, "audit "+id+": verified") || !strings.Contains(goOut, "inclusion") {
				t.Fatalf("audit %s: varde verify ok=%v:\n%s\npython ok=%v:\n%s", id, goOK, goOut, pyOK, py)
			}
		}
		if _, err := exec.LookPath("pdftotext"); err == nil {
			txt, err := exec.Command("pdftotext", "-layout", w.pdf, "-").Output()
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"varde/evidence-log", "leaf 0 of 1", "varde-evidence.json"} {
				if !strings.Contains(string(txt), want) {
					t.Errorf("the compliance report's appendix lacks %q", want)
				}
			}
		}
		// A report extended after it was logged (a DSS revision) is still the logged report; the
		// same file with bytes no signature covers is not.
		ext := filepath.Join(w.dir, "extended.pdf")
		ca, err := sign.LoadPEM(filepath.Join(w.keys, sign.CAFile), filepath.Join(w.keys+"-ca", sign.CAKeyFile), nil)
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
			ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour)}, ca.Cert, ca.Key)
		if err != nil {
			t.Fatal(err)
		}
		crlPath := filepath.Join(w.dir, "ca.crl")
		if err := os.WriteFile(crlPath, crl, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, _, err := runT(t, "", "report", "extend", w.pdf, "-o", ext, "--lt", "--no-fetch", "--crl", crlPath); err != nil {
			t.Fatalf("report extend: %v\n%s", err, out)
		}
		if out, _, err := runT(t, w.urls.Writer, "verify", "--pdf", ext, "--keys-dir", w.keys); err != nil || !strings.Contains(out, "extended after it was logged") {
			t.Errorf("verify --pdf of the extended report: %v\n%s", err, out)
		}
		b, err := os.ReadFile(ext)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ext, append(b, "\n% appended\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := runT(t, w.urls.Writer, "verify", "--pdf", ext, "--keys-dir", w.keys); err == nil || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("verify --pdf of a report with bytes appended: %v", err)
		}
	})
	cases := []struct {
		name    string
		attack  func(t *testing.T, w *evidenceWorld) (id string, pdf string, extra []string)
		goWant  []string // in varde verify's output, each
		pyWant  string
		pdfWant string
	}{
		{"appended row", func(t *testing.T, w *evidenceWorld) (string, string, []string) {
			// Reopened, a compliant finding appended through varde's own code (every hash and the head
			// consistent), closed again.
			w.tamper(t, `UPDATE audits SET status = 'running' WHERE id = `+w.ids[0])
			var n int64
			fmt.Sscan(w.ids[0], &n)
			if err := w.writer.AppendFindings(context.Background(), n, []storage.Finding{{Subject: "store analytics-us", RuleID: "residency.store",
				Severity: "info", Verdict: "in_eea"}}); err != nil {
				t.Fatal(err)
			}
			w.tamper(t, `UPDATE audits SET status = 'succeeded' WHERE id = `+w.ids[0])
			// varde no longer signs a report of it.
			if _, _, err := runT(t, w.urls.Writer, "report", "generate", "--audit", w.ids[0], "--keys-dir", w.keys, "--out", t.TempDir()); err == nil ||
				!strings.Contains(err.Error(), "refusing to report") || !strings.Contains(err.Error(), "evidence changed after the seal") {
				t.Errorf("report generate of the forged audit: %v", err)
			}
			return w.ids[0], w.pdf, nil
		}, []string{"evidence changed after the seal", "the report says audit"}, "evidence changed after the seal", "the database's rows give"},
		{"rewritten header", func(t *testing.T, w *evidenceWorld) (string, string, []string) {
			docs := w.docs(t, w.ids[0])
			var hdr map[string]any
			dec := json.NewDecoder(bytes.NewReader(docs[0].Canonical))
			dec.UseNumber()
			if err := dec.Decode(&hdr); err != nil {
				t.Fatal(err)
			}
			hdr["audit"].(map[string]any)["organisation"] = "Someone Else AS"
			forged, err := storage.JCS(hdr)
			if err != nil {
				t.Fatal(err)
			}
			w.tamper(t, `UPDATE audits SET organisation = 'Someone Else AS' WHERE id = `+w.ids[0])
			w.rechain(t, docs, map[int64][]byte{0: forged})
			return w.ids[0], w.pdf, nil
		}, []string{"evidence changed after the seal"}, "evidence changed after the seal", "the database's rows give"},
		{"rewritten report row", func(t *testing.T, w *evidenceWorld) (string, string, []string) {
			w.tamper(t, `UPDATE reports SET sha256 = repeat('0', 64) WHERE kind = 'compliance' AND audit_id = `+w.ids[0])
			return w.ids[0], w.pdf, nil
		}, []string{"the report row was rewritten"}, "the report row was rewritten", "the report row was rewritten"},
		{"audit removed from the log", func(t *testing.T, w *evidenceWorld) (string, string, []string) {
			w.tamper(t, `DELETE FROM log_leaves WHERE kind = 'audit' AND audit_id = `+w.ids[1],
				`UPDATE log_leaves SET idx = idx - 1 WHERE idx > (SELECT count(*) FROM log_leaves WHERE audit_id = `+w.ids[0]+`)`)
			return w.ids[1], "", nil
		}, []string{"the log does not match a signed checkpoint"}, "leaves were removed", ""},
		{"log forked after a checkpoint was handed out", func(t *testing.T, w *evidenceWorld) (string, string, []string) {
			// The administrator holds the log key too: the first audit's findings rewritten, its chain and
			// seal recomputed, the checkpoints on disk replaced by a freshly signed one. Only the checkpoint
			// the auditor kept tells.
			w.forge(t, w.ids[0], `UPDATE findings SET verdict = 'in_eea', compliant = true WHERE verdict = 'transfer_mechanism_required' AND audit_id = `+w.ids[0])
			var n int64
			fmt.Sscan(w.ids[0], &n)
			a, err := w.writer.GetAudit(context.Background(), n)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := w.writer.Verify(context.Background(), n)
			if err != nil || !rep.OK() {
				t.Fatalf("the forged chain should hold on its own: %+v %v", rep, err)
			}
			seal, err := storage.SealLeafData(a, rep)
			if err != nil {
				t.Fatal(err)
			}
			w.tamper(t, fmt.Sprintf(`UPDATE log_leaves SET data = '\x%x' WHERE kind = 'audit' AND audit_id = %d`, seal, n))
			old, _ := filepath.Glob(filepath.Join(w.keys, "checkpoints", "checkpoint-*.txt"))
			for _, p := range old {
				os.Remove(p)
			}
			signer, err := evidencelog.LoadSigner(filepath.Join(w.keys, evidencelog.KeyFile))
			if err != nil {
				t.Fatal(err)
			}
			leaves, err := w.writer.LogLeaves(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var data [][]byte
			for _, l := range leaves {
				data = append(data, l.Data)
			}
			tree, err := evidencelog.Build(data)
			if err != nil {
				t.Fatal(err)
			}
			c, err := evidencelog.Sign(tree, tree.Size(), signer)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := evidencelog.Write(filepath.Join(w.keys, "checkpoints"), c); err != nil {
				t.Fatal(err)
			}
			// Against the forged checkpoint alone, everything agrees.
			if goOut, goOK, py, pyOK := w.check(t, w.ids[0], ""); !goOK || !pyOK {
				t.Fatalf("the fork against its own checkpoint: varde:\n%s\npython:\n%s", goOut, py)
			}
			return w.ids[0], w.pdf, []string{w.handedOut}
		}, []string{"rewritten or forked"}, "the log forked", "rewritten or forked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newEvidenceWorld(t)
			id, pdf, extra := c.attack(t, w)
			goOut, goOK, py, pyOK := w.check(t, id, "", extra...)
			if goOK || pyOK {
				t.Fatalf("not detected: varde verify ok=%v:\n%s\npython ok=%v:\n%s", goOK, goOut, pyOK, py)
			}
			for _, want := range c.goWant[:1] {
				if !strings.Contains(goOut, want) {
					t.Errorf("varde verify does not say %q:\n%s", want, goOut)
				}
			}
			if !strings.Contains(py, c.pyWant) {
				t.Errorf("the Python verifier does not say %q:\n%s", c.pyWant, py)
			}
			t.Logf("varde verify: %s", goOut)
			t.Logf("python: %s", py)
			if pdf == "" {
				return
			}
			args := []string{"verify", "--pdf", pdf, "--keys-dir", w.keys}
			for _, e := range extra {
				args = append(args, "--checkpoint", e)
			}
			out, _, err := runT(t, w.urls.Writer, args...)
			if err == nil || !strings.Contains(err.Error(), c.pdfWant) {
				t.Errorf("verify --pdf: want an error saying %q, got %v\n%s", c.pdfWant, err, out)
			}
		})
	}
}

// An audit stored in canonical form 1, before the log existed, is sealed when its reports are made
// again, and its bundle checks out with the Python verifier too (acceptance 4).
func TestLegacyAuditSealedAndExported(t *testing.T) {
	needPython(t)
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: url, SkipSchemaCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.MigrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	pgtest.LoadSQL(t, url, "../../storage/testdata/audit-schema1.sql")
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if out, _, err := runT(t, "", "keys", "init", keys); err != nil || !strings.Contains(out, "log.key") {
		t.Fatalf("keys init: %v\n%s", err, out)
	}
	// With a TSA, the checkpoints are time-stamped too (checkpoint-N.tsr beside each).
	tsaURL, tsaPEM := testTSA(t, dir)
	out, _, err := runT(t, url, "report", "generate", "--audit", "1", "--kind", "compliance", "--keys-dir", keys, "--out", filepath.Join(dir, "out"), "--tsa", tsaURL)
	if err != nil || !strings.Contains(out, "checkpoint: ") {
		t.Fatalf("report generate: %v\n%s", err, out)
	}
	vout, _, err := runT(t, url, "verify", "--audit", "1", "--keys-dir", keys, "--tsa-ca", tsaPEM)
	if err != nil || !strings.Contains(vout, "canonical form 1") || !strings.Contains(vout, "TSA CN=varde test TSA, trusted") {
		t.Fatalf("verify: %v\n%s", err, vout)
	}
	// A token that covers another checkpoint is named.
	tsrs, _ := filepath.Glob(filepath.Join(keys, "checkpoints", "*.tsr"))
	if len(tsrs) != 2 {
		t.Fatalf("time-stamps: %v", tsrs)
	}
	b0, _ := os.ReadFile(tsrs[0])
	b1, _ := os.ReadFile(tsrs[1])
	os.WriteFile(tsrs[0], b1, 0o644)
	if _, _, err := runT(t, url, "verify", "--audit", "1", "--keys-dir", keys); err == nil || !strings.Contains(err.Error(), "changed after it was time-stamped") {
		t.Errorf("swapped time-stamp: %v", err)
	}
	os.WriteFile(tsrs[0], b0, 0o644)
	bundle := filepath.Join(dir, "bundle.json")
	if _, _, err := runT(t, url, "evidence", "export", "--audit", "1", "--keys-dir", keys, "-o", bundle); err != nil {
		t.Fatal(err)
	}
	py, err := exec.Command("python3", "../../docs/verify-bundle.py", bundle).CombinedOutput()
	if err != nil || !strings.Contains(string(py), "audit 1: verified") {
		t.Fatalf("python: %v\n%s", err, py)
	}
	// A leaf appended by a process that died before publishing: verify says so, publish signs it.
	r, err := s.AddReport(ctx, storage.Report{AuditID: 1, Kind: "sales", Path: "x.pdf", SHA256: strings.Repeat("ab", 32), SignerFingerprint: "cd", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LogReport(ctx, r, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runT(t, url, "verify", "--audit", "1", "--keys-dir", keys); err == nil || !strings.Contains(err.Error(), "varde evidence publish") {
		t.Errorf("verify with an unpublished leaf: %v", err)
	}
	if out, _, err := runT(t, url, "evidence", "publish", "--keys-dir", keys); err != nil || !strings.Contains(out, "checkpoint-00000005.txt: 5 leaves") {
		t.Fatalf("evidence publish: %v\n%s", err, out)
	}
	if out, _, err := runT(t, url, "verify", "--audit", "1", "--keys-dir", keys); err != nil {
		t.Errorf("verify after publish: %v\n%s", err, out)
	}
}

// The Python verifier's RFC 8785 encoder agrees with the one varde hashes with, on the numbers and
// strings where encoders differ: exponent thresholds, shortest digits, escapes, UTF-16 key order.
func TestPythonJCSAgreesWithVarde(t *testing.T) {
	needPython(t)
	t.Parallel()
	values := []string{
		`0`, `-0`, `1`, `-1`, `9007199254740992`, `1.5`, `0.1`, `1e21`, `1e20`, `1.2345678901234568e20`, `1e-6`, `1e-7`,
		`0.000001234`, `1.7976931348623157e308`, `5e-324`, `2.2250738585072014e-308`, `333333333.33333329`,
		`1e23`, `-1.25e-10`, `59.91`, `10.75`, `0.080045`, `2.3756`, `100.0`, `12345.678e3`,
		`"a\"b\\c\u0000\u001f\u007f\u2028 é 😀 <&>"`, `{"b":1,"a":2,"é":3,"\u20ac":4,"😀":5,"\ufb33":6}`,
		`[true,false,null,{"":[]}]`,
	}
	var pairs [][2]string
	for _, v := range values {
		var x any
		dec := json.NewDecoder(strings.NewReader(v))
		dec.UseNumber()
		if err := dec.Decode(&x); err != nil {
			t.Fatal(err)
		}
		want, err := storage.JCS(x)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		pairs = append(pairs, [2]string{v, string(want)})
	}
	in, err := json.Marshal(pairs)
	if err != nil {
		t.Fatal(err)
	}
	script := `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("vb", "../../docs/verify-bundle.py")
vb = importlib.util.module_from_spec(spec); spec.loader.exec_module(vb)
bad = 0
for v, want in json.load(sys.stdin):
    got = vb.jcs(json.loads(v))
    if got != want:
        bad += 1
        print("%s: python %s, varde %s" % (v, got, want))
sys.exit(1 if bad else 0)
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("python JCS disagrees: %v\n%s", err, out)
	}
}
