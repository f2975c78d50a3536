// Package guest collects the facts the guest tuning checks judge (audit/tuning): it reads /proc, /sys and
// configuration files from an fs.FS root (the live system, a directory, or a varde snapshot), samples CPU
// steal, measures direct-I/O throughput on a live system, and writes snapshots for offline audits.
package guest

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"testing/fstest"
	"time"

	"github.com/varde/varde/audit/tuning"
)

// ManifestName is the first entry of every snapshot tarball and marks it as a varde snapshot.
const ManifestName = "varde-snapshot.json"

// SnapshotFormat and SnapshotVersion identify the snapshot layout; readers refuse anything else.
const (
	SnapshotFormat  = "varde-guest-snapshot"
	SnapshotVersion = 1
)

// Manifest describes a snapshot.
type Manifest struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Host    string    `json:"host"`
	Time    time.Time `json:"time"`
	// Tool is the varde version that wrote the snapshot.
	Tool string `json:"tool"`
	// StatSamples are two /proc/stat texts taken an interval apart, for the steal check.
	StatSamples []StatSample `json:"stat_samples"`
	Files       int          `json:"files"`
}

// StatSample is one /proc/stat reading.
type StatSample struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// Root is where facts come from.
type Root struct {
	FS   fs.FS
	Kind tuning.RootKind
	// Name is "/" for live, the directory, or the snapshot file.
	Name string
	// Manifest is set for snapshots, and for directories holding a varde-snapshot.json (unpacked snapshots,
	// test fixtures).
	Manifest *Manifest
}

// LiveRoot is the running system.
func LiveRoot() Root { return Root{FS: os.DirFS("/"), Kind: tuning.RootLive, Name: "/"} }

// DirRoot is a directory laid out like / (for example an unpacked snapshot or a mounted guest disk).
func DirRoot(dir string) (Root, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return Root{}, fmt.Errorf("guest root %s: %w", dir, err)
	}
	if !st.IsDir() {
		return Root{}, fmt.Errorf("guest root %s: not a directory", dir)
	}
	r := Root{FS: os.DirFS(dir), Kind: tuning.RootDirectory, Name: dir}
	data, err := fs.ReadFile(r.FS, ManifestName)
	switch {
	case err == nil:
		m, err := parseManifest(data)
		if err != nil {
			return Root{}, fmt.Errorf("guest root %s: %s: %w", dir, ManifestName, err)
		}
		r.Manifest = m
	case !errors.Is(err, fs.ErrNotExist):
		return Root{}, fmt.Errorf("guest root %s: %w", dir, err)
	}
	return r, nil
}

func parseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not a varde snapshot manifest: %w", err)
	}
	if m.Format != SnapshotFormat {
		return nil, fmt.Errorf("not a varde snapshot manifest: format %q, want %q", m.Format, SnapshotFormat)
	}
	if m.Version != SnapshotVersion {
		return nil, fmt.Errorf("varde snapshot format version %d is not supported (this varde reads version %d)", m.Version, SnapshotVersion)
	}
	return &m, nil
}

// Snapshot size limits keep a hostile or mistaken tarball from exhausting memory.
const (
	maxSnapshotFile  = 8 << 20
	maxSnapshotTotal = 256 << 20
)

// OpenSnapshot reads a snapshot tarball written by Collect into memory. A file that is not a gzip tar
// starting with a valid varde-snapshot.json is refused with an error naming it.
func OpenSnapshot(ctx context.Context, file string) (Root, error) {
	f, err := os.Open(file)
	if err != nil {
		return Root{}, fmt.Errorf("snapshot %s: %w", file, err)
	}
	defer f.Close()
	r, err := ReadSnapshot(ctx, f)
	if err != nil {
		return Root{}, fmt.Errorf("snapshot %s: %w", file, err)
	}
	r.Name = file
	return r, nil
}

// ReadSnapshot reads a snapshot tarball from r.
func ReadSnapshot(ctx context.Context, r io.Reader) (Root, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return Root{}, fmt.Errorf("not a varde snapshot (not gzip: %v)", err)
	}
	tr := tar.NewReader(gz)
	hdr, err := tr.Next()
	if err != nil {
		return Root{}, fmt.Errorf("not a varde snapshot (not a tar archive: %v)", err)
	}
	if hdr.Name != ManifestName {
		return Root{}, fmt.Errorf("not a varde snapshot (first entry is %q, want %s)", hdr.Name, ManifestName)
	}
	data, err := io.ReadAll(io.LimitReader(tr, maxSnapshotFile))
	if err != nil {
		return Root{}, fmt.Errorf("not a varde snapshot (reading %s: %v)", ManifestName, err)
	}
	m, err := parseManifest(data)
	if err != nil {
		return Root{}, err
	}
	// fstest.MapFS is a plain in-memory fs.FS (the package does not import testing); it synthesises parent
	// directories and implements ReadDir, Stat and Glob as os.DirFS does.
	mfs := fstest.MapFS{ManifestName: &fstest.MapFile{Data: data, Mode: 0o444}}
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return Root{}, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Root{}, fmt.Errorf("corrupt snapshot: %w", err)
		}
		name := strings.TrimSuffix(path.Clean(strings.TrimPrefix(hdr.Name, "/")), "/")
		if !fs.ValidPath(name) || name == "." {
			return Root{}, fmt.Errorf("corrupt snapshot: bad entry name %q", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			mfs[name] = &fstest.MapFile{Mode: fs.ModeDir | 0o555, ModTime: hdr.ModTime}
		case tar.TypeReg:
			if hdr.Size > maxSnapshotFile {
				return Root{}, fmt.Errorf("corrupt snapshot: %s is %d bytes, more than the %d allowed", name, hdr.Size, maxSnapshotFile)
			}
			total += hdr.Size
			if total > maxSnapshotTotal {
				return Root{}, fmt.Errorf("corrupt snapshot: more than %d bytes of files", maxSnapshotTotal)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return Root{}, fmt.Errorf("corrupt snapshot: %s: %w", name, err)
			}
			mfs[name] = &fstest.MapFile{Data: b, Mode: 0o444, ModTime: hdr.ModTime}
		default:
			return Root{}, fmt.Errorf("corrupt snapshot: entry %s has unsupported type %q", name, hdr.Typeflag)
		}
	}
	return Root{FS: mfs, Kind: tuning.RootSnapshot, Manifest: m}, nil
}
