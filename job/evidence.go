package job

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
)

// DefaultLogName is the origin of a log key made by varde (the first line of every checkpoint).
const DefaultLogName = "varde/evidence-log"

// EvidenceLog is the evidence log as varde keeps it: the leaves in the database, the key that signs
// checkpoints and the checkpoints themselves in files the database never sees. A log opened with only
// the public key verifies; one opened with the key also seals and publishes.
type EvidenceLog struct {
	store    *storage.Store
	signer   note.Signer // nil: verify only
	verifier note.Verifier
	vkey     string
	dir      string
	last     Published
	// TSARoots, when set, are the trust anchors a checkpoint's time-stamp is verified against.
	TSARoots *x509.CertPool
	// tsaURL, when set, is an RFC 3161 time-stamp authority asked for a token over each new checkpoint.
	tsaURL string
	logger *slog.Logger
}

// TimestampFile is the RFC 3161 token of checkpoint path, beside it.
func TimestampFile(checkpoint string) string { return strings.TrimSuffix(checkpoint, ".txt") + ".tsr" }

// SetTimestamping makes Publish ask the TSA at url for a token over each new checkpoint and write it
// beside it (checkpoint-N.tsr). A TSA that fails is logged, not fatal: the checkpoint stands without it.
func (l *EvidenceLog) SetTimestamping(url string, logger *slog.Logger) {
	l.tsaURL, l.logger = url, logger
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
}

// timestamp writes the TSA's token over a new checkpoint beside it, never over an existing one.
func (l *EvidenceLog) timestamp(ctx context.Context, c evidencelog.Checkpoint, path string) error {
	token, err := sign.Timestamp(ctx, nil, l.tsaURL, c.Signed)
	if err != nil {
		return fmt.Errorf("time-stamp of %s from %s: %w", path, l.tsaURL, err)
	}
	f, err := os.OpenFile(TimestampFile(path), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("time-stamp of %s: %w", path, err)
	}
	_, werr := f.Write(token)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("time-stamp of %s: %w", path, err)
	}
	return nil
}

// Published is a checkpoint varde signed (or found already signed) over the log as the database holds it.
type Published struct {
	Checkpoint evidencelog.Checkpoint
	Path       string
	Tree       *evidencelog.Tree
	Leaves     []storage.LogLeaf
}

// OpenLog opens the log for writing with the key file at keyPath; checkpoints go to dir.
func OpenLog(s *storage.Store, keyPath, dir string) (*EvidenceLog, error) {
	if s == nil {
		return nil, errors.New("evidence log: no store")
	}
	signer, verifier, vkey, err := evidencelog.LoadKey(keyPath)
	if err != nil {
		return nil, err
	}
	return &EvidenceLog{store: s, signer: signer, verifier: verifier, vkey: vkey, dir: dir}, nil
}

// OpenLogVerifier opens the log for checking only, with the public key file at pubPath.
func OpenLogVerifier(s *storage.Store, pubPath, dir string) (*EvidenceLog, error) {
	if s == nil {
		return nil, errors.New("evidence log: no store")
	}
	v, vkey, err := evidencelog.ReadVerifierKey(pubPath)
	if err != nil {
		return nil, err
	}
	return &EvidenceLog{store: s, verifier: v, vkey: vkey, dir: dir}, nil
}

// LogFromConfig opens the log the config names; with signing.init set, a missing log key is made.
func LogFromConfig(s *storage.Store, cfg *Config) (*EvidenceLog, error) {
	key, dir := cfg.Path(cfg.Signing.LogKey), cfg.Path(cfg.Signing.Checkpoints)
	if _, err := os.Stat(key); errors.Is(err, os.ErrNotExist) && cfg.Signing.Init && cfg.Signing.LogKey == defaultLogKey(cfg) {
		if _, _, err := evidencelog.EnsureKey(cfg.Path(cfg.Signing.KeysDir), DefaultLogName); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(key); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("signing: evidence log key %s does not exist: `varde keys log DIR` makes one (or set signing.init: true with keys_dir)", key)
	}
	l, err := OpenLog(s, key, dir)
	if err != nil {
		return nil, err
	}
	if cfg.Signing.TSAURL != "" {
		l.SetTimestamping(cfg.Signing.TSAURL, nil)
	}
	return l, nil
}

// PublicKey is the log's verifier key as text (name+hash+base64 key), what a third party is given.
func (l *EvidenceLog) PublicKey() string { return l.vkey }

// Dir is the checkpoint directory.
func (l *EvidenceLog) Dir() string { return l.dir }

// Last is the checkpoint this log last published or found; zero before any.
func (l *EvidenceLog) Last() Published { return l.last }

// Checkpoints reads every checkpoint in the directory, smallest first, checked against the key.
func (l *EvidenceLog) Checkpoints() ([]evidencelog.Checkpoint, []string, error) {
	if _, err := os.Stat(l.dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	return evidencelog.ReadDir(l.dir, l.verifier)
}

// tree reads the whole log and hashes it.
func (l *EvidenceLog) tree(ctx context.Context) (*evidencelog.Tree, []storage.LogLeaf, error) {
	leaves, err := l.store.LogLeaves(ctx)
	if err != nil {
		return nil, nil, err
	}
	data := make([][]byte, len(leaves))
	for i, lf := range leaves {
		data[i] = lf.Data
	}
	t, err := evidencelog.Build(data)
	return t, leaves, err
}

// Publish signs a checkpoint of the log as the database holds it and writes it to the checkpoint
// directory, keeping every older one. It first checks that the log grew from every checkpoint already
// there: varde never signs over a rewritten or shortened log.
func (l *EvidenceLog) Publish(ctx context.Context) (Published, error) {
	if l.signer == nil {
		return Published{}, errors.New("evidence log: opened without its key; cannot sign a checkpoint")
	}
	// Checkpoints first, then the leaves: every checkpoint read was signed over leaves that were there
	// before this read, so one published meanwhile by another process never looks like a shrunk log.
	cps, paths, err := l.Checkpoints()
	if err != nil {
		return Published{}, err
	}
	t, leaves, err := l.tree(ctx)
	if err != nil {
		return Published{}, err
	}
	for i, c := range cps {
		if err := t.CheckAgainst(c); err != nil {
			return Published{}, fmt.Errorf("refusing to sign a checkpoint: the database's log does not extend %s: %w", paths[i], err)
		}
	}
	if n := len(cps); n > 0 && cps[n-1].Size == t.Size() {
		l.last = Published{Checkpoint: cps[n-1], Path: paths[n-1], Tree: t, Leaves: leaves}
		return l.last, nil
	}
	c, err := evidencelog.Sign(t, t.Size(), l.signer)
	if err != nil {
		return Published{}, err
	}
	path, err := evidencelog.Write(l.dir, c)
	if err != nil {
		return Published{}, err
	}
	if l.tsaURL != "" {
		if err := l.timestamp(ctx, c, path); err != nil {
			l.logger.Warn("checkpoint written without a time-stamp", "checkpoint", path, "err", err)
		}
	}
	l.last = Published{Checkpoint: c, Path: path, Tree: t, Leaves: leaves}
	return l.last, nil
}

// sealOf finds an audit's seal among the leaves.
func sealOf(leaves []storage.LogLeaf, auditID int64) (storage.LogLeaf, bool) {
	for _, lf := range leaves {
		if lf.Kind == "audit" && lf.AuditID == auditID {
			return lf, true
		}
	}
	return storage.LogLeaf{}, false
}

// Seal makes a finished audit a leaf of the log (unless it is one already) and publishes a checkpoint
// that covers it. Audits stored before the log (canonical form 1) are sealed the same way.
func (l *EvidenceLog) Seal(ctx context.Context, auditID int64, now time.Time) (storage.LogLeaf, Published, error) {
	leaves, err := l.store.LogLeaves(ctx)
	if err != nil {
		return storage.LogLeaf{}, Published{}, err
	}
	seal, ok := sealOf(leaves, auditID)
	if !ok {
		var serr error
		if seal, serr = l.store.SealAudit(ctx, auditID, now); serr != nil {
			// Another process (a replica, a report generate) may have sealed it meanwhile.
			if leaves, err = l.store.LogLeaves(ctx); err != nil {
				return storage.LogLeaf{}, Published{}, errors.Join(serr, err)
			}
			if seal, ok = sealOf(leaves, auditID); !ok {
				return storage.LogLeaf{}, Published{}, serr
			}
		}
	}
	pub, err := l.Publish(ctx)
	return seal, pub, err
}

// ReportEvidence is what a signed report embeds (reports.EvidenceFile): the audit's head and its seal in
// the log, with the proof that the seal is in the tree the checkpoint signs.
type ReportEvidence struct {
	Type           string   `json:"type"` // varde.report-evidence
	AuditID        int64    `json:"audit_id"`
	CanonicalForm  int      `json:"canonical_form"`
	ChainLength    int64    `json:"chain_length"`
	Head           string   `json:"head"` // hex
	LeafIndex      int64    `json:"leaf_index"`
	Leaf           string   `json:"leaf"` // the leaf's data, hashed as an RFC 6962 leaf
	TreeSize       int64    `json:"tree_size"`
	InclusionProof []string `json:"inclusion_proof"` // base64 hashes, leaf to root
	Checkpoint     string   `json:"checkpoint"`      // the signed note
	LogPublicKey   string   `json:"log_public_key"`
}

// ReportEvidenceType names ReportEvidence documents.
const ReportEvidenceType = "varde.report-evidence"

// reportEvidence builds the embedded evidence of an audit sealed at seal, proven in pub's checkpoint.
func (l *EvidenceLog) reportEvidence(a storage.Audit, seal storage.LogLeaf, pub Published) ([]byte, error) {
	var sd struct {
		ChainLength int64  `json:"chain_length"`
		Head        string `json:"head"`
	}
	if err := json.Unmarshal(seal.Data, &sd); err != nil {
		return nil, fmt.Errorf("seal of audit %d: %w", a.ID, err)
	}
	p, err := pub.Tree.Inclusion(seal.Idx, pub.Checkpoint.Size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of audit %d: %w", a.ID, err)
	}
	ev := ReportEvidence{Type: ReportEvidenceType, AuditID: a.ID, CanonicalForm: a.CanonicalForm, ChainLength: sd.ChainLength,
		Head: sd.Head, LeafIndex: seal.Idx, Leaf: string(seal.Data), TreeSize: pub.Checkpoint.Size,
		InclusionProof: hashStrings(p), Checkpoint: string(pub.Checkpoint.Signed), LogPublicKey: l.vkey}
	return json.MarshalIndent(ev, "", "  ")
}

func hashStrings(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

func parseHashes(ss []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		h, err := tlog.ParseHash(s)
		if err != nil {
			return nil, fmt.Errorf("proof hash %d: %w", i, err)
		}
		out[i] = h
	}
	return out, nil
}

// hexHead is a chain head as the log's leaves spell it.
func hexHead(b []byte) string { return hex.EncodeToString(b) }
