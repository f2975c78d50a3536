package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/varde/varde/reports/sign"
)

// reportCommands are the words after "varde report".
var reportCommands = map[string]func(ctx context.Context, e *env, args []string) error{
	"verify":   cmdReportVerify,
	"extend":   cmdReportExtend,
	"sign":     cmdReportSign,
	"generate": cmdReportGenerate,
}

func cmdReport(ctx context.Context, e *env, args []string) error {
	words := slices.Sorted(maps.Keys(reportCommands))
	if len(args) == 0 {
		return usagef("report: want a subcommand: %s", strings.Join(words, ", "))
	}
	c, ok := reportCommands[args[0]]
	if !ok {
		return usagef("report: unknown subcommand %q (want %s)", args[0], strings.Join(words, ", "))
	}
	return c(ctx, e, args[1:])
}

// errNotValid is returned (exit 1) after the findings were printed.
var errNotValid = errors.New("signature not valid")

// pathList is a repeatable flag.
type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ",") }
func (p *pathList) Set(v string) error { *p = append(*p, v); return nil }

// loadPool reads every PEM certificate in files and in dir's *.pem, *.crt and *.cer files; nil
// when none were named, so verification trusts nothing.
func loadPool(files []string, dir string) (*x509.CertPool, []string, error) {
	if dir != "" {
		for _, pat := range []string{"*.pem", "*.crt", "*.cer"} {
			m, err := filepath.Glob(filepath.Join(dir, pat))
			if err != nil {
				return nil, nil, err
			}
			files = append(files, m...)
		}
		if len(files) == 0 {
			return nil, nil, fmt.Errorf("trust directory %s holds no .pem, .crt or .cer file", dir)
		}
	}
	if len(files) == 0 {
		return nil, nil, nil
	}
	pool := x509.NewCertPool()
	for _, f := range files {
		if err := sign.AddCertsFromFile(pool, f); err != nil {
			return nil, nil, err
		}
	}
	return pool, files, nil
}

func cmdReportVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report verify")
	var cas, tsaCAs, crls, ocsps pathList
	fs.Var(&cas, "ca", "PEM file of a trust anchor for signers (repeatable); without one, nothing is trusted")
	// Trust directories can be configured once for a host in the environment, so an auditor's
	// verifications all use the same anchors.
	trustDir := fs.String("trust-dir", e.getenv("VARDE_TRUST_DIR"), "directory of trust anchor certificates (*.pem, *.crt, *.cer) for signers (default $VARDE_TRUST_DIR)")
	fs.Var(&tsaCAs, "tsa-ca", "PEM file of a trust anchor for time-stamp authorities (repeatable)")
	tsaTrustDir := fs.String("tsa-trust-dir", e.getenv("VARDE_TSA_TRUST_DIR"), "directory of trust anchor certificates for time-stamp authorities (default $VARDE_TSA_TRUST_DIR)")
	fs.Var(&crls, "crl", "CRL file (DER or PEM) to check revocation with, beside the file's DSS (repeatable)")
	fs.Var(&ocsps, "ocsp", "OCSP response file (DER) to check revocation with (repeatable)")
	asJSON := fs.Bool("json", false, "print the validation report as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("report verify: want exactly one FILE.pdf argument")
	}
	cfg := sign.VerifyConfig{}
	if cfg.Roots, _, err = loadPool(cas, *trustDir); err != nil {
		return fmt.Errorf("report verify: %w", err)
	}
	if cfg.TSARoots, _, err = loadPool(tsaCAs, *tsaTrustDir); err != nil {
		return fmt.Errorf("report verify: %w", err)
	}
	for _, p := range crls {
		c, err := sign.LoadCRL(p)
		if err != nil {
			return fmt.Errorf("report verify: %w", err)
		}
		cfg.CRLs = append(cfg.CRLs, c)
	}
	for _, p := range ocsps {
		b, err := sign.LoadOCSP(p)
		if err != nil {
			return fmt.Errorf("report verify: %w", err)
		}
		cfg.OCSPs = append(cfg.OCSPs, b)
	}
	r, err := sign.VerifyFile(ctx, pos[0], cfg)
	if err != nil {
		return fmt.Errorf("report verify: %w", err)
	}
	w := e.stdout
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		printReport(w, r)
	}
	if r.Valid() {
		return nil
	}
	var problems []string
	problems = append(problems, r.Problems...)
	for _, s := range r.Signatures {
		if s.Status != sign.StatusValid {
			problems = append(problems, fmt.Sprintf("%s %s: %s: %s", s.Kind, s.Field, s.Status, strings.Join(s.Problems, "; ")))
		}
	}
	return fmt.Errorf("report verify: %s: %w: %s", pos[0], errNotValid, strings.Join(problems, "; "))
}

func printReport(w io.Writer, r *sign.Report) {
	fmt.Fprintf(w, "file:          %s (%d bytes, %d revisions)\n", r.File, r.FileLength, len(r.Revisions))
	for _, rv := range r.Revisions {
		if rv.Adds != "" {
			fmt.Fprintf(w, "revision %d:    adds %s\n", rv.Number, rv.Adds)
		}
	}
	for i, s := range r.Signatures {
		fmt.Fprintf(w, "[%d] %s %q covers revision %d (%d bytes)\n", i+1, s.Kind, s.Field, s.Revision, s.SignedLength)
		fmt.Fprintf(w, "  status:      %s\n", s.Status)
		if s.Kind == sign.KindSignature {
			fmt.Fprintf(w, "  level:       %s\n", s.Level)
			if s.MissingForNext != "" {
				fmt.Fprintf(w, "  next level:  needs %s\n", s.MissingForNext)
			}
		}
		fmt.Fprintf(w, "  signer:      %s\n", s.Signer)
		if s.Fingerprint != "" {
			fmt.Fprintf(w, "  sha256:      %s\n", s.Fingerprint)
		}
		if s.TrustAnchor != "" {
			fmt.Fprintf(w, "  anchor:      %s\n", s.TrustAnchor)
		}
		if s.ClaimedTime != nil {
			fmt.Fprintf(w, "  claimed:     %s (written by the signer, not proof)\n", s.ClaimedTime.UTC().Format(time.RFC3339))
		}
		if s.ProvenTime != nil {
			fmt.Fprintf(w, "  proven time: %s\n", s.ProvenTime.UTC().Format(time.RFC3339))
		}
		if s.Timestamp != nil && s.Kind == sign.KindSignature {
			fmt.Fprintf(w, "  time-stamp:  %s %s\n", s.Timestamp.Status, s.Timestamp.Problem)
		}
		fmt.Fprintf(w, "  digest:      %s\n", okBad(s.DigestValid))
		fmt.Fprintf(w, "  signature:   %s\n", okBad(s.SignatureValid))
		fmt.Fprintf(w, "  revocation:  %s %s\n", s.Revocation, s.RevocationSource)
		for _, p := range s.Problems {
			fmt.Fprintf(w, "  problem:     %s\n", p)
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem:       %s\n", p)
	}
	if r.Valid() {
		fmt.Fprintf(w, "result:        valid, %s\n", r.Level())
	} else {
		fmt.Fprintf(w, "result:        NOT valid\n")
	}
}

// cmdReportExtend raises a signed report to B-LT (DSS) and/or B-LTA (document time-stamp).
func cmdReportExtend(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report extend")
	out := fs.String("o", "", "PDF to write (default: replace the input)")
	lt := fs.Bool("lt", false, "add a DSS with certificates and CRLs/OCSP responses (PAdES B-LT)")
	lta := fs.Bool("lta", false, "add a document time-stamp (PAdES B-LTA); needs --tsa")
	tsa := fs.String("tsa", "", "RFC 3161 time-stamp authority URL for --lta")
	var crls, ocsps pathList
	fs.Var(&crls, "crl", "CRL file to add to the DSS (repeatable)")
	fs.Var(&ocsps, "ocsp", "OCSP response file to add to the DSS (repeatable)")
	noFetch := fs.Bool("no-fetch", false, "do not fetch CRLs/OCSP from the certificates' URLs")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("report extend: want exactly one FILE.pdf argument")
	}
	cfg := sign.ExtendConfig{LT: *lt, LTA: *lta, TSAURL: *tsa, NoFetch: *noFetch, Logger: e.logger}
	for _, p := range crls {
		c, err := sign.LoadCRL(p)
		if err != nil {
			return fmt.Errorf("report extend: %w", err)
		}
		cfg.CRLs = append(cfg.CRLs, c.Raw)
	}
	for _, p := range ocsps {
		b, err := sign.LoadOCSP(p)
		if err != nil {
			return fmt.Errorf("report extend: %w", err)
		}
		cfg.OCSPs = append(cfg.OCSPs, b)
	}
	if err := cfg.Validate(); err != nil {
		return usagef("report %v", err)
	}
	dst := *out
	if dst == "" {
		dst = pos[0]
	}
	if err := sign.ExtendFile(ctx, pos[0], dst, cfg); err != nil {
		return fmt.Errorf("report extend: %w", err)
	}
	fmt.Fprintf(e.stdout, "extended %s\n", dst)
	return nil
}

// cmdReportSign signs an existing PDF; reports made by varde are signed as they are generated,
// this is for re-signing or signing by hand.
func cmdReportSign(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report sign")
	out := fs.String("o", "", "signed PDF to write (default: replace the input)")
	certPath := fs.String("cert", "", "signer certificate PEM (with chain) or PKCS#12 file")
	keyPath := fs.String("key", "", "private key PEM file (default: in --cert)")
	pwFile := fs.String("password-file", "", "file holding the key or PKCS#12 password (default $VARDE_KEY_PASSWORD)")
	tsa := fs.String("tsa", "", "RFC 3161 time-stamp authority URL (optional)")
	reason := fs.String("reason", "", "reason recorded in the signature")
	location := fs.String("location", "", "location recorded in the signature")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("report sign: want exactly one FILE.pdf argument")
	}
	if *certPath == "" {
		return usagef("report sign: --cert is required")
	}
	s, err := loadSigner(e, *certPath, *keyPath, *pwFile)
	if err != nil {
		return fmt.Errorf("report sign: %w", err)
	}
	dst := *out
	if dst == "" {
		dst = pos[0]
	}
	opts := sign.Options{TSAURL: *tsa, Reason: *reason, Location: *location, Logger: e.logger}
	if err := sign.SignFile(ctx, pos[0], dst, s, opts); err != nil {
		return fmt.Errorf("report sign: %w", err)
	}
	fmt.Fprintf(e.stdout, "signed %s (signer sha256 %s)\n", dst, s.Fingerprint)
	return nil
}

// loadSigner loads a signing key named on the command line; the password comes from a file or
// $VARDE_KEY_PASSWORD, never from the command line.
func loadSigner(e *env, certPath, keyPath, pwFile string) (*sign.Signer, error) {
	pw, err := keyPassword(e, pwFile)
	if err != nil {
		return nil, err
	}
	return sign.Load(certPath, keyPath, pw)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func okBad(b bool) string {
	if b {
		return "ok"
	}
	return "FAILED"
}

// parseInterspersed parses flags that may come after positional arguments
// ("report verify FILE --ca X") and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
