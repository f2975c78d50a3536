package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/varde/varde"
	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/job"
	"github.com/varde/varde/reports/sign"
)

// cmdKeys manages the report signing keys.
func cmdKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("keys: want a subcommand: init, log or show")
	}
	switch args[0] {
	case "init":
		return cmdKeysInit(ctx, e, args[1:])
	case "show":
		return cmdKeysShow(ctx, e, args[1:])
	case "log":
		return cmdKeysLog(ctx, e, args[1:])
	}
	return usagef("keys: unknown subcommand %q (want init, log or show)", args[0])
}

func cmdKeysInit(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keys init")
	org := fs.String("org", "varde", "organisation named in the CA and signer certificates")
	useRSA := fs.Bool("rsa", false, "make RSA 3072 keys instead of ECDSA P-256")
	crlURL := fs.String("crl-url", "", "CRL distribution point to put in the signer certificate")
	ocspURL := fs.String("ocsp-url", "", "OCSP responder URL to put in the signer certificate")
	caDir := fs.String("ca-dir", "", "directory for the CA private key (default: DIR-ca); keep it off the signing host")
	passEnv := fs.String("ca-passphrase-env", "VARDE_CA_KEY_PASSPHRASE", "environment variable whose value, when set, encrypts the CA key")
	logName := fs.String("log-name", job.DefaultLogName, "origin of the evidence log (first line of its checkpoints)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys init: want exactly one DIR argument")
	}
	dir := pos[0]
	if *caDir == "" {
		*caDir = filepath.Clean(dir) + "-ca"
	}
	cfg := sign.KeysConfig{Organization: *org, RSA: *useRSA, CRLURL: *crlURL, OCSPURL: *ocspURL, CADir: *caDir,
		CAKeyPassword: []byte(e.getenv(*passEnv))}
	s, err := sign.InitKeys(ctx, dir, cfg)
	if err != nil {
		return fmt.Errorf("keys init: %w", err)
	}
	w := e.stdout
	for _, p := range []string{filepath.Join(dir, sign.CAFile), filepath.Join(dir, sign.SignerFile), filepath.Join(dir, sign.SignerKeyFile)} {
		fmt.Fprintf(w, "wrote %s\n", p)
	}
	logKey, created, err := evidencelog.EnsureKey(dir, *logName)
	if err != nil {
		return fmt.Errorf("keys init: %w", err)
	}
	if created {
		fmt.Fprintf(w, "wrote %s (the evidence log key: never in the database or its backups) and %s (give it to auditors)\n",
			logKey, filepath.Join(dir, evidencelog.PubKeyFile))
	}
	enc := "UNENCRYPTED (set $" + *passEnv + " to encrypt it)"
	if len(cfg.CAKeyPassword) > 0 {
		enc = "encrypted with $" + *passEnv
	}
	fmt.Fprintf(w, "wrote %s, %s: move it off this host; it can issue signing certificates\n", filepath.Join(*caDir, sign.CAKeyFile), enc)
	fmt.Fprintf(w, "signer %s\nsha256 %s\n", s.Cert.Subject, s.Fingerprint)
	fmt.Fprintf(w, "verifiers trust %s: varde report verify FILE --ca %s\n", filepath.Join(dir, sign.CAFile), filepath.Join(dir, sign.CAFile))
	fmt.Fprintf(w, "This CA is for demos and internal use. To sign with an enterprise CA or a qualified provider instead,\n"+
		"skip keys init and give the certificate: a PKCS#12 file (signing.cert: FILE.p12, password from the env var\n"+
		"named in signing.password_env) or a PEM certificate with its chain plus a PEM key; check it with varde keys show.\n")
	return nil
}

// cmdKeysShow loads a signer the way report signing does and prints what it found, so a
// PEM pair or PKCS#12 file can be checked before a quarterly run needs it.
func cmdKeysShow(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keys show")
	keyPath := fs.String("key", "", "private key PEM file (default: the key is in CERT, or CERT is PKCS#12)")
	pwFile := fs.String("password-file", "", "file holding the key or PKCS#12 password (default $VARDE_KEY_PASSWORD)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys show: want exactly one CERT (.pem, .p12 or .pfx) argument")
	}
	pw, err := keyPassword(e, *pwFile)
	if err != nil {
		return err
	}
	s, err := sign.Load(pos[0], *keyPath, pw)
	if err != nil {
		return fmt.Errorf("keys show: %w", err)
	}
	fmt.Fprintf(e.stdout, "signer  %s\nissuer  %s\nexpires %s\nsha256  %s\nchain   %d certificate(s)\n",
		s.Cert.Subject, s.Cert.Issuer, s.Cert.NotAfter.UTC().Format("2006-01-02"), s.Fingerprint, len(s.Chain))
	return nil
}

// keyPassword reads the password from a file (first line) or $VARDE_KEY_PASSWORD; passwords
// stay off the command line, where ps would show them.
func keyPassword(e *env, file string) ([]byte, error) {
	if file == "" {
		return []byte(e.getenv("VARDE_KEY_PASSWORD")), nil
	}
	b, err := varde.ReadFile(file, varde.Limit{What: "a password file", Bytes: 64 << 10})
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return []byte(strings.TrimRight(line, "\r")), nil
}

// cmdKeysLog makes the evidence log key in DIR when it is not there (keys init makes it with the
// signing keys; this is for a key directory made before the log existed, or a key kept apart).
func cmdKeysLog(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keys log")
	logName := fs.String("log-name", job.DefaultLogName, "origin of the evidence log (first line of its checkpoints)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys log: want exactly one DIR argument")
	}
	key, created, err := evidencelog.EnsureKey(pos[0], *logName)
	if err != nil {
		return fmt.Errorf("keys log: %w", err)
	}
	if !created {
		fmt.Fprintf(e.stdout, "%s exists; left as it is\n", key)
		return nil
	}
	fmt.Fprintf(e.stdout, "wrote %s (never in the database or its backups) and %s (give it to auditors)\n", key, filepath.Join(pos[0], evidencelog.PubKeyFile))
	return nil
}
