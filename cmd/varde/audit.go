package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/varde/varde/audit/residency"
	"github.com/varde/varde/job"
	"github.com/varde/varde/reports/sign"
)

func cmdAudit(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("audit: want a subcommand: run, list, show or recover")
	}
	switch args[0] {
	case "run":
		return cmdAuditRun(ctx, e, args[1:])
	case "list":
		return cmdAuditList(ctx, e, args[1:])
	case "show":
		return cmdAuditShow(ctx, e, args[1:])
	case "recover":
		return cmdAuditRecover(ctx, e, args[1:])
	}
	return usagef("audit: unknown subcommand %q (want run, list, show or recover)", args[0])
}

// cmdAuditRecover closes, as interrupted, every running audit whose process is gone (killed, crashed,
// or cut off by a database restart). Audits a live varde process holds are left alone.
func cmdAuditRecover(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "audit recover")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("audit recover: takes no arguments")
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	closed, err := s.Recover(ctx, time.Now())
	for _, r := range closed {
		fmt.Fprintf(e.stdout, "audit %d (started %s): interrupted\n", r.AuditID, r.StartedAt.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return err
	}
	if len(closed) == 0 {
		fmt.Fprintln(e.stdout, "no running audit without a live process")
	}
	return nil
}

func cmdAuditRun(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "audit run")
	cfgPath := fs.String("config", "", "audit configuration (YAML, required)")
	outDir := fs.String("out", "", "directory for the signed PDFs (default: output_dir of the config)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return usagef("audit run: --config FILE is required")
	}
	cfg, err := job.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *outDir != "" {
		cfg.OutputDir = *outDir
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := job.Run(ctx, cfg, job.Options{Store: s, Logger: e.logger, Emulator: e.labEmulator(),
		Progress: func(msg string) { fmt.Fprintln(e.stderr, "varde:", msg) }})
	if res == nil {
		return err
	}
	fmt.Fprintf(e.stdout, "audit %d %s\n", res.AuditID, res.Status)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, st := range res.Steps {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", st.Step, st.Status, st.Message)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "evidence chain: %d rows, head %x\n", res.Chain.Rows, res.Chain.Head)
	for _, r := range res.Reports {
		fmt.Fprintf(e.stdout, "report %s: %s (sha256 %s)\n", r.Kind, r.Path, r.SHA256)
	}
	if res.Checkpoint != "" {
		keys := filepath.Dir(cfg.Path(cfg.Signing.LogKey))
		fmt.Fprintf(e.stdout, "sealed: log leaf %d; checkpoint %s\n", res.Seal.Idx, res.Checkpoint)
		fmt.Fprintf(e.stdout, "verify: varde verify --audit %d --keys-dir %s; pdfsig FILE.pdf\n", res.AuditID, keys)
		for _, r := range res.Reports {
			fmt.Fprintf(e.stdout, "verify: varde verify --pdf %s --keys-dir %s\n", r.Path, keys)
		}
	} else {
		fmt.Fprintf(e.stdout, "verify: varde verify --audit %d; pdfsig FILE.pdf\n", res.AuditID)
	}
	if err != nil {
		return err
	}
	for _, st := range res.Failed() {
		return fmt.Errorf("audit %d: step %s failed: %s", res.AuditID, st.Step, st.Message)
	}
	return nil
}

func cmdAuditList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "audit list")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	as, err := s.ListAudits(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, a := range as {
			if err := enc.Encode(a); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tORGANISATION\tSTATUS\tSTARTED\tEVIDENCE ROWS")
	for _, a := range as {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\n", a.ID, a.Kind, a.Organisation, a.Status,
			a.StartedAt.Local().Format(time.DateTime), a.ChainLength)
	}
	return tw.Flush()
}

func parseAuditID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("audit ID %q: want a positive number", s)
	}
	return id, nil
}

func cmdAuditShow(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "audit show")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("audit show: want exactly one audit ID")
	}
	id, err := parseAuditID(pos[0])
	if err != nil {
		return err
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	a, err := s.GetAudit(ctx, id)
	if err != nil {
		return err
	}
	steps, err := s.Steps(ctx, id)
	if err != nil {
		return err
	}
	reps, err := s.Reports(ctx, id)
	if err != nil {
		return err
	}
	fs2, err := s.Findings(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(map[string]any{"audit": a, "steps": steps, "reports": reps, "findings": fs2})
	}
	fmt.Fprintf(e.stdout, "audit %d: %s for %s, %s\n", a.ID, a.Kind, a.Organisation, a.Status)
	if a.PeriodStart != nil && a.PeriodEnd != nil {
		fmt.Fprintf(e.stdout, "period: %s .. %s\n", a.PeriodStart.Format(time.DateOnly), a.PeriodEnd.Format(time.DateOnly))
	}
	fmt.Fprintf(e.stdout, "tool %s, rules %s; evidence chain %d rows, head %x\n", a.ToolVersion, a.RulesVersion, a.ChainLength, a.ChainHead)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, st := range steps {
		fmt.Fprintf(tw, "step\t%s\t%s\t%s\n", st.Step, st.Status, st.Message)
	}
	counts := map[residency.Severity]int{}
	for _, f := range fs2 {
		counts[residency.Severity(f.Severity)]++
	}
	var bySeverity []string
	for _, sev := range residency.Severities() {
		bySeverity = append(bySeverity, fmt.Sprintf("%s %d", sev, counts[sev]))
	}
	fmt.Fprintf(tw, "findings\t%d\t%s\t\n", len(fs2), strings.Join(bySeverity, ", "))
	for _, r := range reps {
		fmt.Fprintf(tw, "report\t%s\t%s\tsha256 %s, signer %s\n", r.Kind, r.Path, r.SHA256, r.SignerFingerprint)
	}
	return tw.Flush()
}

// cmdReportGenerate makes signed PDFs of a stored audit, from what storage holds.
func cmdReportGenerate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report generate")
	auditID := fs.Int64("audit", 0, "audit ID (required)")
	kind := fs.String("kind", "", "compliance or sales (default: both)")
	outDir := fs.String("out", "out", "directory for the PDFs")
	keysDir := fs.String("keys-dir", "", "directory made by varde keys init (signer.pem, signer-key.pem)")
	certPath := fs.String("cert", "", "signer certificate PEM (with chain) or PKCS#12 file")
	keyPath := fs.String("key", "", "private key PEM file (default: in --cert)")
	pwFile := fs.String("password-file", "", "file holding the key or PKCS#12 password (default $VARDE_KEY_PASSWORD)")
	tsa := fs.String("tsa", "", "RFC 3161 time-stamp authority URL for the signatures and the log's checkpoints (optional)")
	logKey := fs.String("log-key", "", "evidence log key (default: KEYS-DIR/log.key)")
	checkpoints := fs.String("checkpoints", "", "checkpoint directory (default: KEYS-DIR/checkpoints)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *auditID <= 0 {
		return usagef("report generate: --audit ID is required (a positive number)")
	}
	if err := logKeyPaths(*keysDir, logKey, checkpoints); err != nil {
		return usagef("report generate: %v (every report is sealed into the evidence log)", err)
	}
	var kinds []job.ReportKind // both
	switch k := job.ReportKind(*kind); k {
	case "":
	case job.ReportCompliance, job.ReportSales:
		kinds = []job.ReportKind{k}
	default:
		return usagef("report generate: --kind %q: want compliance or sales", *kind)
	}
	if *keysDir != "" && *certPath == "" {
		*certPath, *keyPath = filepath.Join(*keysDir, sign.SignerFile), filepath.Join(*keysDir, sign.SignerKeyFile)
	}
	if *certPath == "" {
		return usagef("report generate: give --keys-dir or --cert to sign with")
	}
	signer, err := loadSigner(e, *certPath, *keyPath, *pwFile)
	if err != nil {
		return fmt.Errorf("report generate: %w", err)
	}
	s, err := e.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer s.Close()
	lg, err := job.OpenLog(s, *logKey, *checkpoints)
	if err != nil {
		return fmt.Errorf("report generate: %w", err)
	}
	if *tsa != "" {
		lg.SetTimestamping(*tsa, e.logger)
	}
	reps, err := job.GenerateReports(ctx, s, job.ReportOptions{AuditID: *auditID, Kinds: kinds, Signer: signer,
		OutDir: *outDir, TSAURL: *tsa, Log: lg})
	for _, r := range reps {
		fmt.Fprintf(e.stdout, "report %s: %s (sha256 %s)\n", r.Kind, r.Path, r.SHA256)
	}
	if p := lg.Last().Path; p != "" {
		fmt.Fprintf(e.stdout, "checkpoint: %s\n", p)
	}
	return err
}
