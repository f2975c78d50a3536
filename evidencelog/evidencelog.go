// Package evidencelog is varde's one Merkle tree log across audits: each sealed audit's chain head and
// each report's digest is a leaf, hashed as RFC 6962 (golang.org/x/mod/sumdb/tlog), and the tree's
// checkpoints are signed with an Ed25519 log key (golang.org/x/mod/sumdb/note) kept in a file, never in
// the database. A checkpoint is a C2SP tlog-checkpoint: origin, tree size and base64 root hash, each on a
// line, then the note signature. Anyone holding a checkpoint can check that an audit is in the log
// (inclusion proof) and that a later log only grew from it (consistency proof).
package evidencelog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/varde/varde"
)

// Key file names in a key directory.
const (
	KeyFile    = "log.key" // the note signer key: PRIVATE+KEY+name+hash+key (mode 0600)
	PubKeyFile = "log.pub" // the note verifier key: name+hash+key
)

// GenerateKey writes a new log key pair named name (the log's origin) into dir, refusing to overwrite.
func GenerateKey(dir, name string) (keyPath, pubPath string, err error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("log key %q: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("log key: %w", err)
	}
	keyPath, pubPath = filepath.Join(dir, KeyFile), filepath.Join(dir, PubKeyFile)
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("log key: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return "", "", fmt.Errorf("log key %s: %w", keyPath, err)
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("log key %s: %w", keyPath, err)
	}
	if err := os.WriteFile(pubPath, []byte(vkey+"\n"), 0o644); err != nil {
		return "", "", fmt.Errorf("log public key: %w", err)
	}
	return keyPath, pubPath, nil
}

// LoadSigner reads a signer key file.
func LoadSigner(path string) (note.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("log key %s: %w", path, err)
	}
	return s, nil
}

// LoadVerifier reads a verifier (public) key file.
func LoadVerifier(path string) (note.Verifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("log public key: %w", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("log public key %s: %w", path, err)
	}
	return v, nil
}

// Tree is the log's hashes, computed from its leaves in order.
type Tree struct {
	stored []tlog.Hash
	n      int64
}

// Build hashes leaves (leaf i is data[i]) into a tree.
func Build(data [][]byte) (*Tree, error) {
	t := &Tree{}
	for i, d := range data {
		hs, err := tlog.StoredHashes(int64(i), d, t)
		if err != nil {
			return nil, fmt.Errorf("log leaf %d: %w", i, err)
		}
		t.stored = append(t.stored, hs...)
		t.n++
	}
	return t, nil
}

// ReadHashes implements tlog.HashReader.
func (t *Tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.stored)) {
			return nil, fmt.Errorf("log: hash %d not stored", x)
		}
		out[i] = t.stored[x]
	}
	return out, nil
}

// Size is the number of leaves.
func (t *Tree) Size() int64 { return t.n }

// Root is the tree hash of the first n leaves.
func (t *Tree) Root(n int64) (tlog.Hash, error) { return tlog.TreeHash(n, t) }

// Inclusion proves leaf i is in the tree of size n.
func (t *Tree) Inclusion(i, n int64) (tlog.RecordProof, error) { return tlog.ProveRecord(n, i, t) }

// Consistency proves the tree of size n extends the tree of size old.
func (t *Tree) Consistency(old, n int64) (tlog.TreeProof, error) { return tlog.ProveTree(n, old, t) }

// Checkpoint is a signed statement of the log's size and root.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	// Signed is the whole note, as written to and read from a file.
	Signed []byte
}

// Text is the checkpoint body (C2SP tlog-checkpoint).
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// Sign makes the checkpoint of the tree's first size leaves, signed by signer (whose name is the origin).
func Sign(t *Tree, size int64, signer note.Signer) (Checkpoint, error) {
	root, err := t.Root(size)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint of size %d: %w", size, err)
	}
	c := Checkpoint{Origin: signer.Name(), Size: size, Root: root}
	c.Signed, err = note.Sign(&note.Note{Text: c.Text()}, signer)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign checkpoint: %w", err)
	}
	return c, nil
}

// Open checks a signed checkpoint against the log's public key and parses it.
func Open(signed []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != v.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint: origin %q is not the log %q", lines[0], v.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return Checkpoint{}, fmt.Errorf("checkpoint: tree size %q", lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint: root hash %q", lines[2])
	}
	c := Checkpoint{Origin: lines[0], Size: size, Signed: signed}
	copy(c.Root[:], h)
	return c, nil
}

// Write stores a checkpoint in dir as checkpoint-<size>.txt (written whole, then renamed) and returns the
// path. An existing checkpoint of the same size is kept: a second, different one would be a fork.
func Write(dir string, c Checkpoint) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint directory: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("checkpoint-%08d.txt", c.Size))
	if old, err := os.ReadFile(path); err == nil {
		if !bytes.Equal(old, c.Signed) {
			return "", fmt.Errorf("checkpoint %s exists with another root: the log forked", path)
		}
		return path, nil
	}
	tmp, err := os.CreateTemp(dir, ".checkpoint-*")
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if _, err := tmp.Write(c.Signed); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	return path, nil
}

// ReadDir reads and checks every checkpoint in dir, smallest first.
func ReadDir(dir string, v note.Verifier) ([]Checkpoint, []string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "checkpoint-*.txt"))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(paths)
	var cps []Checkpoint
	for _, p := range paths {
		c, err := ReadFile(p, v)
		if err != nil {
			return nil, nil, err
		}
		cps = append(cps, c)
	}
	return cps, paths, nil
}

// ErrMismatch is under every disagreement between the log's leaves and a signed checkpoint.
var ErrMismatch = errors.New("the log does not match a signed checkpoint")

// CheckAgainst checks that the tree grew from checkpoint c: it is at least as large, its first c.Size
// leaves hash to c's root, and a consistency proof from c to the tree's size verifies.
func (t *Tree) CheckAgainst(c Checkpoint) error {
	if c.Size > t.n {
		return fmt.Errorf("%w: the checkpoint signs %d leaves, the database holds %d (leaves were removed)", ErrMismatch, c.Size, t.n)
	}
	root, err := t.Root(c.Size)
	if err != nil {
		return err
	}
	if root != c.Root {
		return fmt.Errorf("%w: the first %d leaves in the database hash to %s, the checkpoint signed %s (the log was rewritten or forked)",
			ErrMismatch, c.Size, root, c.Root)
	}
	now, err := t.Root(t.n)
	if err != nil {
		return err
	}
	if c.Size > 0 {
		p, err := t.Consistency(c.Size, t.n)
		if err != nil {
			return err
		}
		if err := tlog.CheckTree(p, t.n, now, c.Size, c.Root); err != nil {
			return fmt.Errorf("%w: consistency from size %d: %v", ErrMismatch, c.Size, err)
		}
	}
	return nil
}

// CheckInclusion checks that data is leaf i of the tree checkpoint c signs.
func (t *Tree) CheckInclusion(c Checkpoint, i int64, data []byte) error {
	if i >= c.Size {
		return fmt.Errorf("%w: leaf %d is not covered by the checkpoint of size %d", ErrMismatch, i, c.Size)
	}
	p, err := t.Inclusion(i, c.Size)
	if err != nil {
		return err
	}
	if err := tlog.CheckRecord(p, c.Size, c.Root, i, tlog.RecordHash(data)); err != nil {
		return fmt.Errorf("%w: leaf %d is not in the checkpoint of size %d: %v", ErrMismatch, i, c.Size, err)
	}
	return nil
}

// EnsureKey makes the log key pair in dir unless a key is there already, and returns the key's path.
func EnsureKey(dir, name string) (keyPath string, created bool, err error) {
	keyPath = filepath.Join(dir, KeyFile)
	if _, err := os.Stat(keyPath); err == nil {
		return keyPath, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("log key: %w", err)
	}
	if _, _, err := GenerateKey(dir, name); err != nil {
		return "", false, err
	}
	return keyPath, true, nil
}

// LoadKey reads a signer key file and derives its verifier from the private key itself, so a public key
// file that does not belong to the key cannot creep in. vkey is the verifier key as text
// (name+hash+base64), which is what a third party is given.
func LoadKey(path string) (note.Signer, note.Verifier, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, "", fmt.Errorf("log key: %w", err)
	}
	skey := strings.TrimSpace(string(b))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, nil, "", fmt.Errorf("log key %s: %w", path, err)
	}
	// PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>
	parts := strings.SplitN(skey, "+", 5) // the base64 key may hold '+' itself
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, nil, "", fmt.Errorf("log key %s: not an Ed25519 note key", path)
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, nil, "", fmt.Errorf("log key %s: %w", path, err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, nil, "", fmt.Errorf("log key %s: %w", path, err)
	}
	return s, v, vkey, nil
}

// ReadVerifierKey reads a verifier key file and returns the verifier and the key's text.
func ReadVerifierKey(path string) (note.Verifier, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("log public key: %w", err)
	}
	vkey := strings.TrimSpace(string(b))
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, "", fmt.Errorf("log public key %s: %w", path, err)
	}
	return v, vkey, nil
}

// ReadFile reads and checks one checkpoint file.
func ReadFile(path string, v note.Verifier) (Checkpoint, error) {
	b, err := varde.ReadFile(path, varde.Limit{What: "a checkpoint", Bytes: 64 << 10})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := Open(b, v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
