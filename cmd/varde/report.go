package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/varde/varde/reports/sign"
)

// reportCommands are the words after "varde report".
var reportCommands = map[string]func(ctx context.Context, e *env, args []string) error{
	"verify":   cmdReportVerify,
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

func cmdReportVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report verify")
	caPath := fs.String("ca", "", "PEM file of the CA the signer must chain to (default: trust not checked)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("report verify: want exactly one FILE.pdf argument")
	}
	var pool *x509.CertPool
	if *caPath != "" {
		p, err := sign.LoadCertPool(*caPath)
		if err != nil {
			return fmt.Errorf("report verify: %w", err)
		}
		pool = p
	}
	r, err := sign.VerifyFile(ctx, pos[0], pool)
	if err != nil {
		return fmt.Errorf("report verify: %w", err)
	}
	w := e.stdout
	fmt.Fprintf(w, "file:          %s\n", pos[0])
	fmt.Fprintf(w, "signer:        %s\n", r.SignerSubject)
	fmt.Fprintf(w, "sha256:        %s\n", r.Fingerprint)
	if !r.SigningTime.IsZero() {
		fmt.Fprintf(w, "signing time:  %s (claimed by the signer)\n", r.SigningTime.UTC().Format(time.RFC3339))
	}
	if r.TimestampPresent {
		fmt.Fprintf(w, "time-stamp:    %s\n", r.TimestampTime.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "time-stamp:    none\n")
	}
	fmt.Fprintf(w, "signed bytes:  %d of %d\n", r.SignedLength, r.FileLength)
	fmt.Fprintf(w, "whole file:    %s\n", yesNo(r.CoversWholeFile))
	fmt.Fprintf(w, "digest:        %s\n", okBad(r.DigestValid))
	fmt.Fprintf(w, "signature:     %s\n", okBad(r.SignatureValid))
	switch {
	case !r.ChainChecked:
		fmt.Fprintf(w, "trust:         not checked (no --ca)\n")
	case r.ChainTrusted:
		fmt.Fprintf(w, "trust:         chains to %s\n", *caPath)
	default:
		fmt.Fprintf(w, "trust:         does not chain to %s\n", *caPath)
	}
	if r.Valid() {
		fmt.Fprintf(w, "result:        valid\n")
		return nil
	}
	for _, msg := range r.Errors {
		fmt.Fprintf(w, "problem:       %s\n", msg)
	}
	if r.ModifiedAfterSigning {
		return fmt.Errorf("report verify: %s: modified after signing (%d bytes appended)", pos[0], r.FileLength-r.SignedLength)
	}
	return fmt.Errorf("report verify: %s: %w: %s", pos[0], errNotValid, strings.Join(r.Errors, "; "))
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
