package agent

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/varde/varde"
)

// spool keeps signed results on disk until the server has answered for them: one file per (task,
// attempt), written atomically, so a result is spooled once however often it is sent.
type spool struct {
	dir      string
	maxBytes int64
	maxFiles int
	mu       sync.Mutex
}

// A spool file is the 64-byte result signature followed by the body as signed: no re-encoding of
// results that may be megabytes.
const sigSize = ed25519.SignatureSize

func openSpool(dir string, maxBytes int64, maxFiles int) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: spool: %w", err)
	}
	return &spool{dir: dir, maxBytes: maxBytes, maxFiles: maxFiles}, nil
}

// errSpoolFull: the spool is at its bound.
var errSpoolFull = errors.New("spool full")

func (s *spool) put(task int64, attempt int, body, sig []byte) error {
	return s.putNamed(fmt.Sprintf("%012d-%06d%s", task, attempt, suffixResult), body, sig)
}

// Spool file suffixes say where a file goes.
const (
	suffixResult  = ".result"
	suffixSummary = ".summary"
)

func (s *spool) putNamed(name string, body, sig []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(sig) != sigSize {
		return fmt.Errorf("spool: signature of %d bytes", len(sig))
	}
	items, size, err := s.usage()
	if err != nil {
		return err
	}
	if slices.Contains(items, name) {
		return nil // already spooled: the same attempt is never kept twice
	}
	if len(items)+1 > s.maxFiles || size+int64(len(sig)+len(body)) > s.maxBytes {
		return fmt.Errorf("%w: %d results, %d bytes held; bounds %d results, %d bytes", errSpoolFull, len(items), size, s.maxFiles, s.maxBytes)
	}
	// The signature then the body, written as two parts: no copy of a result's hundreds of kB.
	return writeFileAtomic(filepath.Join(s.dir, name), 0o600, sig, body)
}

func (s *spool) usage() ([]string, int64, error) {
	es, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, 0, fmt.Errorf("agent: spool: %w", err)
	}
	var names []string
	var size int64
	for _, e := range es {
		if !strings.HasSuffix(e.Name(), suffixResult) && !strings.HasSuffix(e.Name(), suffixSummary) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		names = append(names, e.Name())
		size += fi.Size()
	}
	return names, size, nil
}

// list names the spooled results, oldest task first.
func (s *spool) list() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, _, err := s.usage()
	slices.Sort(names)
	return names, err
}

func (s *spool) read(name string) (body, sig []byte, err error) {
	b, err := varde.ReadFile(filepath.Join(s.dir, name), varde.Limit{What: "a spooled result", Bytes: s.maxBytes})
	if err != nil {
		return nil, nil, err
	}
	if len(b) < sigSize {
		return nil, nil, fmt.Errorf("spool file %s: %d bytes, shorter than a signature", name, len(b))
	}
	return b[sigSize:], b[:sigSize], nil
}

func (s *spool) remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	os.Remove(filepath.Join(s.dir, name))
}

func encodeSig(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
