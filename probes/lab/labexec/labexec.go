// Package labexec runs the latency lab in a process of its own and talks to it over a pipe, so that the
// varde binary never links the lab: the lab raises GOMAXPROCS, locks a thread that spins on the CPU and
// holds TUN devices, none of which belongs in a long-running service. The child is a small program that
// calls Serve (demo/varde-lab); the parent calls Start.
//
// The protocol is JSON lines. The parent writes one request {"targets":[{"name","rtt_ns","ports"}]}; the
// child answers with one reply {"endpoints":[{"name","addr","ports"}]}, or {"unavailable":"why"} when no
// lab can run on this machine, or {"error":"what failed"}; then it keeps the lab up until its stdin
// ends, closes the lab and exits.
package labexec

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// Target is a lab target to emulate: a true round-trip time and the TCP ports that accept handshakes.
type Target struct {
	Name  string        `json:"name"`
	RTT   time.Duration `json:"rtt_ns"`
	Ports []uint16      `json:"ports"`
}

// Endpoint is where the lab put a target.
type Endpoint struct {
	Name  string     `json:"name"`
	Addr  netip.Addr `json:"addr"`
	Ports []uint16   `json:"ports"`
}

type request struct {
	Targets []Target `json:"targets"`
}

type reply struct {
	Endpoints   []Endpoint `json:"endpoints,omitempty"`
	Unavailable string     `json:"unavailable,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// ErrUnavailable says no lab can run here (not root, no TUN device, no helper program); the caller may
// measure another way and say so.
var ErrUnavailable = errors.New("latency lab unavailable")

// Process is a running lab child. Close it.
type Process struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	stderr    *bytes.Buffer
	Endpoints []Endpoint
}

// Start runs the lab program at path, asks it for targets and waits for their endpoints. When ctx ends
// the child's stdin is closed, which tears the lab down.
func Start(ctx context.Context, path string, targets []Target) (*Process, error) {
	if _, err := exec.LookPath(path); err != nil {
		return nil, fmt.Errorf("%w: lab program %s: %w", ErrUnavailable, path, err)
	}
	cmd := exec.CommandContext(ctx, path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("lab program %s: %w", path, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("lab program %s: %w", path, err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// A cancelled run ends the lab the polite way first; the child's devices go with its file descriptors.
	cmd.Cancel = func() error { return stdin.Close() }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lab program %s: %w", path, err)
	}
	p := &Process{cmd: cmd, stdin: stdin, stderr: &stderr}
	fail := func(err error) (*Process, error) {
		stdin.Close()
		cmd.Wait()
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, msg)
		}
		return nil, err
	}
	if err := json.NewEncoder(stdin).Encode(request{Targets: targets}); err != nil {
		return fail(fmt.Errorf("lab program %s: send targets: %w", path, err))
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		return fail(fmt.Errorf("lab program %s: no reply: %w", path, err))
	}
	var rep reply
	if err := json.Unmarshal(line, &rep); err != nil {
		return fail(fmt.Errorf("lab program %s: reply %q: %w", path, bytes.TrimSpace(line), err))
	}
	switch {
	case rep.Unavailable != "":
		return fail(fmt.Errorf("%w: %s", ErrUnavailable, rep.Unavailable))
	case rep.Error != "":
		return fail(fmt.Errorf("lab program %s: %s", path, rep.Error))
	case len(rep.Endpoints) != len(targets):
		return fail(fmt.Errorf("lab program %s: %d endpoints for %d targets", path, len(rep.Endpoints), len(targets)))
	}
	p.Endpoints = rep.Endpoints
	return p, nil
}

// Close ends the child's stdin, which closes the lab, and waits for the child to exit.
func (p *Process) Close() error {
	p.stdin.Close()
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("lab program: %w: %s", err, strings.TrimSpace(p.stderr.String()))
	}
	return nil
}

// StartFunc stands up a lab with the targets and returns their endpoints and how to close it.
type StartFunc func(ctx context.Context, targets []Target) ([]Endpoint, func() error, error)

// Serve is the child's side: it reads one request from r, checks available (nil: a lab can run), starts
// the lab, writes the reply to w and keeps the lab up until r ends or ctx is done.
func Serve(ctx context.Context, r io.Reader, w io.Writer, available func() error, start StartFunc) error {
	br := bufio.NewReader(r)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	var req request
	enc := json.NewEncoder(w)
	if err := json.Unmarshal(line, &req); err != nil {
		err = fmt.Errorf("request %q: %w", bytes.TrimSpace(line), err)
		enc.Encode(reply{Error: err.Error()})
		return err
	}
	if why := available(); why != nil {
		return enc.Encode(reply{Unavailable: why.Error()})
	}
	eps, stop, err := start(ctx, req.Targets)
	if err != nil {
		enc.Encode(reply{Error: err.Error()})
		return err
	}
	if err := enc.Encode(reply{Endpoints: eps}); err != nil {
		stop()
		return fmt.Errorf("write reply: %w", err)
	}
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, br)
		close(ended)
	}()
	select {
	case <-ended:
	case <-ctx.Done():
	}
	return stop()
}
