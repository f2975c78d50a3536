package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/varde/varde/storage"
)

// serverCert writes a self-signed certificate and key for 127.0.0.1, valid around now.
func serverCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "varde serve test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// varde serve over HTTPS with the agent protocol mounted: an agent enrolled with `varde agent enrol`
// and running as `varde agent run` measures the agent vantage of an audit started through the API; its
// measurements are in the audit, under its vantage, from varde-agent.
func TestServeWithAgentVantage(t *testing.T) {
	se := newServeEnv(t)
	cert, key := serverCert(t, se.dir)
	se.start("--tls-cert", cert, "--tls-key", key, "--agent-lease-ttl", "5s")
	if !strings.HasPrefix(se.base, "https://") {
		t.Fatalf("serve listens on %s, want https", se.base)
	}
	tok := strings.TrimSpace(se.run(se.urls.Writer, "agent", "token", "--vantage", "bergen"))
	server := se.base + "/v1/agent"
	adir := filepath.Join(se.dir, "agent")
	enrol := exec.Command(se.bin, "agent", "enrol", "--server", server, "--ca", cert, "--vantage", "bergen", "--dir", adir)
	enrol.Env = append(os.Environ(), "VARDE_AGENT_TOKEN="+tok)
	if out, err := enrol.CombinedOutput(); err != nil {
		t.Fatalf("enrol: %v: %s", err, out)
	}
	agent := exec.Command(se.bin, "agent", "run", "--server", server, "--ca", cert, "--dir", adir)
	var alog bytes.Buffer
	agent.Stderr = &alog
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		agent.Process.Kill()
		agent.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", alog.String())
		}
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
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
	cfg := fmt.Sprintf(`organisation: Fjordnett AS
kind: ad_hoc
vantage: oslo
vantages:
  - {name: oslo, latitude: 59.91, longitude: 10.75}
  - {name: bergen, latitude: 60.39, longitude: 5.32, agent: true}
probes: {icmp: false, tcp_count: 3, interval: 10ms, timeout: 1s, agent_deadline: 2m}
targets:
  - {name: local-listener, host: %s, port: %s}
`, host, port)

	pool := x509.NewCertPool()
	pb, _ := os.ReadFile(cert)
	pool.AppendCertsFromPEM(pb)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	call := func(want int, method, path, ctype, body string, out any) {
		t.Helper()
		req, _ := http.NewRequest(method, se.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+se.token)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
		}
	}
	call(201, "PUT", "/v1/configs/agents", "application/yaml", cfg, nil)
	var run storage.AuditRun
	call(202, "POST", "/v1/audits", "application/json", `{"config_name":"agents"}`, &run)
	deadline := time.Now().Add(3 * time.Minute)
	for !run.Status.Final() {
		if time.Now().After(deadline) {
			t.Fatalf("run %d still %s", run.ID, run.Status)
		}
		time.Sleep(200 * time.Millisecond)
		call(200, "GET", fmt.Sprintf("/v1/runs/%d", run.ID), "", "", &run)
	}
	if run.Status != storage.RunSucceeded || run.AuditID == nil {
		t.Fatalf("run ended %+v", run)
	}
	var ms []storage.Measurement
	call(200, "GET", fmt.Sprintf("/v1/audits/%d/measurements", *run.AuditID), "", "", &ms)
	n := 0
	for _, m := range ms {
		if m.Vantage == "bergen" {
			n++
			if m.Tool != "varde-agent" || !strings.Contains(string(m.Stats), `"agent"`) {
				t.Errorf("bergen measurement: tool %s, stats %s", m.Tool, m.Stats)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d measurements from bergen, want 1 (of %d)", n, len(ms))
	}
	se.run(se.urls.Writer, "verify", "--audit", fmt.Sprint(*run.AuditID))
}
