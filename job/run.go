package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/varde/varde"
	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/guest"
	"github.com/varde/varde/probes"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
)

// Steps of an audit, as recorded in audit_steps.
const (
	stepProbes    = "probes"
	stepResidency = "residency"
	stepGuest     = "guest"
	stepReports   = "reports"
)

// StepStatus is the outcome of one step of an audit, as recorded in audit_steps.
type StepStatus string

// Step outcomes. The audit_steps table accepts exactly these.
const (
	StepSucceeded StepStatus = "succeeded"
	StepFailed    StepStatus = "failed"
	// StepSkipped: the step had nothing to do (nothing configured), which the reports say.
	StepSkipped StepStatus = "skipped"
)

// Options are what Run needs besides the config.
type Options struct {
	// Store keeps the audit. Required.
	Store *storage.Store
	// Logger gets warnings and errors. Default: discard.
	Logger *slog.Logger
	// Now is the clock for stored times and report dates. Default time.Now.
	Now func() time.Time
	// Progress, when set, hears a line as each step starts and ends.
	Progress func(msg string)
	// Emulator stands up lab targets. Nil: lab targets are measured over TCP on loopback, and the
	// reports say so.
	Emulator Emulator
	// Remote measures the vantages the config marks agent: true (remote.go). Nil: such vantages are
	// recorded as unavailable.
	Remote RemoteVantages
	// Run is set by the scheduled audit service: the audit's header records the run (planned time,
	// lateness) and the run is linked to the audit as it is created.
	Run *storage.HeaderRun
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
}

func (o *Options) validate() error {
	if o.Store == nil {
		return errors.New("job options: Store is required")
	}
	return nil
}

// Result says what an audit run did.
type Result struct {
	AuditID  int64
	Status   storage.AuditStatus
	Steps    []storage.Step
	Reports  []storage.Report
	Findings int
	Chain    storage.ChainReport
	// Seal is the audit's leaf in the evidence log; Checkpoint the latest checkpoint file that covers
	// it (and its reports). Zero when the audit could not be sealed.
	Seal       storage.LogLeaf
	Checkpoint string
}

// Failed returns the steps that failed.
func (r *Result) Failed() []storage.Step {
	var out []storage.Step
	for _, st := range r.Steps {
		if StepStatus(st.Status) == StepFailed {
			out = append(out, st)
		}
	}
	return out
}

// Run performs one audit as configured: it stores everything as one audit with its hash chain, records
// each step's outcome (a failed step does not lose what earlier steps stored), finishes the audit, then
// makes, signs and records both reports from what was stored. cfg is validated first (defaults filled in
// a copy, so the caller's Config is left as it was); a config that does not validate stores nothing.
func Run(ctx context.Context, cfg *Config, opts Options) (*Result, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, errors.New("audit config: none given")
	}
	cfg = cfg.clone()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := opts.Store
	// The log key is opened first: a run that could not seal its audit stores nothing.
	evlog, err := LogFromConfig(s, cfg)
	if err != nil {
		return nil, fmt.Errorf("audit config: %w", err)
	}
	if cfg.Signing.TSAURL != "" {
		evlog.SetTimestamping(cfg.Signing.TSAURL, opts.Logger)
	}
	start, end, err := ParsePeriod(cfg.Period)
	if err != nil {
		return nil, fmt.Errorf("audit config: period: %w", err)
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("audit config: %w", err)
	}
	hdr, err := header(cfg)
	if err != nil {
		return nil, err
	}
	na := storage.NewAudit{Kind: cfg.Kind, Organisation: cfg.Organisation, PeriodStart: start,
		PeriodEnd: end, StartedAt: opts.Now(), ToolVersion: varde.Version, RulesVersion: residency.RulesVersion, Config: cfgJSON,
		Header: hdr}
	if opts.Run != nil {
		hdr.Run, na.RunID = opts.Run, opts.Run.ID
	}
	a, err := s.CreateAudit(ctx, na)
	if err != nil {
		return nil, err
	}
	res := &Result{AuditID: a.ID}
	// The final status is written whatever happens below (FinishAudit outlives cancellation): an audit
	// is never left 'running' by a run that is over. If even that fails (the database is gone),
	// the hold ends with the process and `varde audit recover` closes the audit as interrupted.
	hold, err := s.HoldAudit(ctx, a.ID)
	if err != nil {
		return res, errors.Join(err, s.FinishAudit(ctx, a.ID, storage.StatusFailed, opts.Now()))
	}
	defer hold.Release()
	r := &runner{cfg: cfg, opts: opts, s: s, auditID: a.ID, res: res, periodStart: start, periodEnd: end, log: evlog}
	opts.Progress(fmt.Sprintf("audit %d started", a.ID))
	if err := r.reference(ctx); err != nil {
		opts.Logger.Warn("reference data", "err", err)
	}

	r.step(ctx, stepProbes, r.probes)
	r.remoteProbes(ctx)
	if r.cfg.agentVantages() {
		r.step(ctx, stepMonitoring, r.monitoring)
	}
	r.step(ctx, stepResidency, func(ctx context.Context) (string, error) { return r.residency(ctx, r.probeResults) })
	r.step(ctx, stepGuest, r.guest)

	status := storage.StatusSucceeded
	switch {
	case ctx.Err() != nil:
		status = storage.StatusInterrupted
	case len(res.Failed()) > 0:
		status = storage.StatusPartial
	}
	if err := s.FinishAudit(ctx, a.ID, status, opts.Now()); err != nil {
		return res, errors.Join(err, ctx.Err())
	}
	res.Status = status
	opts.Progress(fmt.Sprintf("audit %d %s", a.ID, status))
	// Sealed whatever the status, an interrupted audit too: what it stored is evidence. Past a
	// cancellation, with a bound of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sealTimeout)
	seal, pub, err := evlog.Seal(sctx, a.ID, opts.Now())
	cancel()
	if err != nil {
		return res, errors.Join(fmt.Errorf("audit %d is %s but not sealed in the evidence log (`varde report generate --audit %d` seals it): %w", a.ID, status, a.ID, err), ctx.Err())
	}
	res.Seal, res.Checkpoint = seal, pub.Path
	opts.Progress(fmt.Sprintf("audit %d sealed as leaf %d; checkpoint %s", a.ID, seal.Idx, pub.Path))
	if status == storage.StatusInterrupted {
		return res, fmt.Errorf("audit %d interrupted before its reports: %w", a.ID, ctx.Err())
	}
	r.step(ctx, stepReports, r.reports)
	if p := evlog.Last().Path; p != "" {
		res.Checkpoint = p
	}
	chain, err := s.Verify(ctx, a.ID)
	if err != nil {
		return res, err
	}
	res.Chain = chain
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

type runner struct {
	cfg          *Config
	opts         Options
	s            *storage.Store
	auditID      int64
	res          *Result
	probeResults []probes.Result
	// periodStart and periodEnd are the first and last day of the audited period; the rules in force on
	// the last apply.
	periodStart, periodEnd *time.Time
	// monitored is what the monitoring step put in the chain.
	monitored []MonitoringEntry
	log       *EvidenceLog
}

// sealTimeout bounds sealing after the run was cancelled.
const sealTimeout = 30 * time.Second

// step runs one step and records its outcome.
func (r *runner) step(ctx context.Context, name string, fn func(context.Context) (string, error)) {
	st := storage.Step{AuditID: r.auditID, Step: name, StartedAt: r.opts.Now()}
	var msg string
	var err error
	if cerr := ctx.Err(); cerr != nil {
		// The run was stopped before this step: say so rather than run it against a cancelled context.
		err = fmt.Errorf("not run: the audit was interrupted (%w)", cerr)
	} else {
		r.opts.Progress(name + ": running")
		msg, err = fn(ctx)
	}
	st.FinishedAt = r.opts.Now()
	status := StepSucceeded
	switch {
	case errors.Is(err, errSkipped):
		status = StepSkipped
	case err != nil:
		status, msg = StepFailed, err.Error()
		r.opts.Logger.Error("audit step failed", "audit", r.auditID, "step", name, "err", err)
	}
	st.Status, st.Message = string(status), msg
	// Record with a fresh context so that a cancelled run still leaves its trace.
	if rerr := r.s.RecordStep(context.WithoutCancel(ctx), st); rerr != nil {
		// Never report an outcome the database does not hold: the step counts as failed here, and the
		// progress line says it was not recorded rather than what the step itself returned.
		r.opts.Logger.Error("record step", "audit", r.auditID, "step", name, "err", rerr)
		st.Status, st.Message = string(StepFailed), fmt.Sprintf("outcome not recorded (%s: %s): %v", status, msg, rerr)
		r.res.Steps = append(r.res.Steps, st)
		r.opts.Progress(fmt.Sprintf("%s: not recorded: %s", name, st.Message))
		return
	}
	r.res.Steps = append(r.res.Steps, st)
	r.opts.Progress(fmt.Sprintf("%s: %s %s", name, st.Status, st.Message))
}

// errSkipped marks a step that had nothing to do; it is recorded as StepSkipped.
var errSkipped = errors.New("nothing to do")

func (r *runner) reference(ctx context.Context) error {
	var errs []error
	for _, v := range r.cfg.Vantages {
		lat, lon := v.Latitude, v.Longitude
		sv := storage.Vantage{Name: v.Name, City: v.City, Latitude: &lat, Longitude: &lon, Network: v.Network}
		if v.ASN > 0 {
			asn := v.ASN
			sv.ASN = &asn
		}
		if _, err := r.s.PutVantage(ctx, sv); err != nil {
			errs = append(errs, err)
		}
	}
	for _, t := range r.cfg.Targets {
		st := storage.Target{Name: t.Name, Host: t.Host, Label: t.Label}
		if t.Port > 0 {
			p := int32(t.Port)
			st.Port = &p
		}
		if _, err := r.s.PutTarget(ctx, st); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *runner) vantage() Vantage {
	for _, v := range r.cfg.Vantages {
		if v.Name == r.cfg.Vantage {
			return v
		}
	}
	return Vantage{Name: r.cfg.Vantage}
}

// probes measures every target from the local vantage. Lab targets go through the latency lab when it is
// available (root); otherwise they are measured over TCP on loopback, and the note says so.
func (r *runner) probes(ctx context.Context) (string, error) {
	if len(r.cfg.Targets) == 0 {
		return "no targets configured", errSkipped
	}
	if r.cfg.localIsRemote() {
		return fmt.Sprintf("%s is measured by its agents (step %s%s)", r.cfg.Vantage, stepRemotePrefix, r.cfg.Vantage), errSkipped
	}
	var notes []string
	icmp := *r.cfg.Probes.ICMP
	if icmp && os.Geteuid() != 0 {
		icmp = false
		notes = append(notes, "ICMP skipped: varde is not running as root, so it cannot open raw ICMP sockets.")
	}
	var labTargets []EmulatedTarget
	for _, t := range r.cfg.Targets {
		if t.LabRTT > 0 {
			labTargets = append(labTargets, EmulatedTarget{Name: t.Name, RTT: time.Duration(t.LabRTT), Port: uint16(r.port(t))})
		}
	}
	addr := map[string]string{}
	if len(labTargets) > 0 {
		var em *Emulation
		var why error = ErrEmulatorUnavailable
		if r.opts.Emulator != nil {
			em, why = r.opts.Emulator.Emulate(ctx, labTargets)
		}
		switch {
		case errors.Is(why, ErrEmulatorUnavailable):
			notes = append(notes, fmt.Sprintf("Latency lab unavailable (%v): lab targets were measured over TCP to listeners on loopback, without emulated delay.", why))
			lns, err := loopbackListeners(ctx, len(labTargets))
			if err != nil {
				return "", err
			}
			defer func() {
				for _, l := range lns {
					l.Close()
				}
			}()
			for i, lt := range labTargets {
				addr[lt.Name] = lns[i].Addr().String()
			}
		case why != nil:
			return "", fmt.Errorf("latency lab: %w", why)
		default:
			defer func() {
				if err := em.Close(); err != nil {
					r.opts.Logger.Warn("latency lab close", "err", err)
				}
			}()
			for _, lt := range labTargets {
				ap, ok := em.Addrs[lt.Name]
				if !ok {
					return "", fmt.Errorf("latency lab: no address for target %s", lt.Name)
				}
				addr[lt.Name] = ap.String()
			}
			if em.Method != "" {
				notes = append(notes, em.Method)
			}
		}
	}
	var targets []probes.Target
	for _, t := range r.cfg.Targets {
		hostport := addr[t.Name]
		if hostport == "" {
			hostport = net.JoinHostPort(t.Host, strconv.Itoa(r.port(t)))
		}
		pt, err := probes.ParseTarget(hostport)
		if err != nil {
			return "", fmt.Errorf("target %s: %w", t.Name, err)
		}
		pt.Raw = t.Name
		targets = append(targets, pt)
	}
	// One sweep: echoes and handshakes at the same time, each target's ICMP result before its TCP one.
	c := probes.Config{Vantage: r.cfg.Vantage, Interval: time.Duration(r.cfg.Probes.Interval),
		Timeout: time.Duration(r.cfg.Probes.Timeout), Logger: r.opts.Logger}
	echoes := r.cfg.Probes.Count
	if !icmp {
		echoes = 0
	}
	var all []probes.Result
	if c.SetCounts(echoes, r.cfg.Probes.TCPCount) {
		var err error
		if all, err = probes.Sweep(ctx, c, targets); err != nil {
			return "", fmt.Errorf("sweep: %w", err)
		}
	}
	r.probeResults = all
	if err := StoreProbeResults(ctx, r.s, r.auditID, all, r.opts.Now()); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("%d measurements from %s: ICMP %d echoes, TCP %d handshakes per target, interval %v.",
		len(all), r.cfg.Vantage, r.cfg.Probes.Count, r.cfg.Probes.TCPCount, time.Duration(r.cfg.Probes.Interval))
	if !icmp {
		msg = fmt.Sprintf("%d measurements from %s: TCP %d handshakes per target, interval %v.",
			len(all), r.cfg.Vantage, r.cfg.Probes.TCPCount, time.Duration(r.cfg.Probes.Interval))
	}
	return strings.TrimSpace(msg + " " + strings.Join(notes, " ")), nil
}

func (r *runner) port(t Target) int {
	if t.Port > 0 {
		return t.Port
	}
	return 443
}

func loopbackListeners(ctx context.Context, n int) ([]net.Listener, error) {
	var lns []net.Listener
	var lc net.ListenConfig
	for range n {
		l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			for _, x := range lns {
				x.Close()
			}
			return nil, fmt.Errorf("loopback listener: %w", err)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		lns = append(lns, l)
	}
	return lns, nil
}

func (r *runner) residency(ctx context.Context, measured []probes.Result) (string, error) {
	if r.cfg.Inventory == "" {
		return "no inventory configured", errSkipped
	}
	inv, err := residency.LoadInventory(r.cfg.Path(r.cfg.Inventory))
	if err != nil {
		return "", err
	}
	for _, st := range inv.Stores {
		if _, err := r.s.PutDataStore(ctx, storage.DataStore{Name: st.Name, Kind: st.Kind, Location: st.Location,
			Purpose: st.Purpose, DataCategory: string(st.Category), Role: string(st.Role),
			TransferMechanism: string(st.Mechanism.Type), TransferReference: st.Mechanism.Reference}); err != nil {
			return "", err
		}
	}
	src, err := OpenSources(r.cfg.paths(r.cfg.GeoIPDBs), r.cfg.paths(r.cfg.CloudRanges), r.opts.Logger)
	if err != nil {
		return "", err
	}
	defer src.Close()
	rcfg := residency.Config{Now: r.opts.Now, Logger: r.opts.Logger}
	src.Apply(&rcfg)
	if r.periodEnd != nil {
		rcfg.Date = *r.periodEnd
	}
	v := r.vantage()
	rcfg.RTT, err = r.rttTable(measured, residency.Vantage{Name: v.Name, Lat: v.Latitude, Lon: v.Longitude})
	if err != nil {
		return "", err
	}
	out, err := residency.Audit(ctx, rcfg, inv)
	if err != nil {
		return "", err
	}
	obs, findings, err := ResidencyRecords(out, r.opts.Now(), r.monitored...)
	if err != nil {
		return "", err
	}
	if err := r.s.AppendObservations(ctx, r.auditID, obs); err != nil {
		return "", err
	}
	if err := r.s.AppendFindings(ctx, r.auditID, findings); err != nil {
		return "", err
	}
	r.res.Findings += len(findings)
	h := out.Headline()
	return fmt.Sprintf("%d data stores judged under %s as of %s: %d compliant, %d not compliant, %d not shown compliant; %d observations, %d findings.",
		len(out.Stores), out.RulesVersion, out.Date.Format(time.DateOnly), h[residency.StatusCompliant],
		h[residency.StatusNotCompliant], h[residency.StatusNotShownCompliant], len(obs), len(findings)), nil
}

func (r *runner) guest(ctx context.Context) (string, error) {
	g := r.cfg.Guest
	if !g.Local && len(g.Snapshots) == 0 {
		return "no guests configured", errSkipped
	}
	gcfg := guest.Config{Logger: r.opts.Logger}
	if g.IODir != "" {
		gcfg.IO.Dir = g.IODir
	}
	var roots []guest.Root
	if g.Local {
		roots = append(roots, guest.LiveRoot())
	}
	var errs []error
	for _, p := range g.Snapshots {
		root, err := guest.OpenSnapshot(ctx, r.cfg.Path(p))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		roots = append(roots, root)
	}
	n := 0
	var hosts []string
	for _, root := range roots {
		rep, err := guest.Check(ctx, root, gcfg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		crs, err := CheckRecords(rep)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := r.s.AppendCheckResults(ctx, r.auditID, crs); err != nil {
			errs = append(errs, err)
			continue
		}
		n += len(rep.Results)
		hosts = append(hosts, fmt.Sprintf("%s (%s)", rep.Host, rep.Root))
	}
	msg := fmt.Sprintf("%d check results from %s.", n, strings.Join(hosts, ", "))
	return msg, errors.Join(errs...)
}

func (r *runner) reports(ctx context.Context) (string, error) {
	signer, err := LoadSigner(ctx, r.cfg, r.opts.Now)
	if err != nil {
		return "", err
	}
	// The sales comparison compares targets; without any there is nothing to compare.
	kinds := []ReportKind{ReportCompliance}
	if len(r.cfg.Targets) > 0 {
		kinds = append(kinds, ReportSales)
	}
	reps, err := GenerateReports(ctx, r.s, ReportOptions{AuditID: r.auditID, Kinds: kinds, Signer: signer,
		OutDir: r.cfg.Path(r.cfg.OutputDir), Now: r.opts.Now, TSAURL: r.cfg.Signing.TSAURL, Log: r.log})
	r.res.Reports = append(r.res.Reports, reps...)
	if err != nil {
		return "", err
	}
	var paths []string
	for _, rp := range reps {
		paths = append(paths, rp.Path)
	}
	msg := "signed " + strings.Join(paths, ", ")
	if len(r.cfg.Targets) == 0 {
		msg += "; no sales comparison: no targets configured"
	}
	return msg, nil
}

// LoadSigner returns the signing key the config names or, with Init set, makes a CA and signing
// certificate in KeysDir when they are not there yet, valid from now().
func LoadSigner(ctx context.Context, cfg *Config, now func() time.Time) (*sign.Signer, error) {
	sg := cfg.Signing
	var password []byte
	if sg.Password != "" {
		password = []byte(os.Getenv(sg.Password))
	}
	cert, key := cfg.Path(sg.Cert), cfg.Path(sg.Key)
	if cert == "" {
		dir := cfg.Path(sg.KeysDir)
		cert, key = filepath.Join(dir, sign.SignerFile), filepath.Join(dir, sign.SignerKeyFile)
		if _, err := os.Stat(cert); errors.Is(err, os.ErrNotExist) && sg.Init {
			if _, err := sign.InitKeys(ctx, dir, sign.KeysConfig{Organization: cfg.Organisation, Now: now}); err != nil {
				return nil, fmt.Errorf("signing keys: %w", err)
			}
		}
	}
	return sign.Load(cert, key, password)
}
