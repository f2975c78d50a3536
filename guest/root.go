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

	"github.com/varde/varde"
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
	data, err := varde.ReadFSFile(r.FS, ManifestName, manifestLimit)
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

// Snapshot limits keep a hostile or mistaken tarball from exhausting memory. Everything a snapshot holds
// in memory counts against maxSnapshotTotal: file data, and for every entry its name and bookkeeping,
// so many entries with long names are held to the limit as large files are.
const (
	maxSnapshotFile     = 8 << 20
	maxSnapshotTotal    = 256 << 20
	maxSnapshotManifest = 1 << 20
	// maxSnapshotEntries is far above what Collect writes (a few thousand /proc and /sys entries).
	maxSnapshotEntries = 100_000
	// maxSnapshotName is PATH_MAX: no file the checks read has a longer name.
	maxSnapshotName = 4096
	// entryOverhead is what one entry costs in memory beyond its name and data (map slot, MapFile).
	entryOverhead = 256
)

// Limits for the files a snapshot is made of, and for the snapshot file itself: its compressed size, and
// the bytes gzip may expand it to (data plus tar headers), which bounds a decompression bomb.
var (
	snapshotLimit    = varde.Limit{What: "a guest snapshot", Bytes: maxSnapshotTotal}
	unpackedLimit    = varde.Limit{What: "an unpacked guest snapshot", Bytes: 2 * maxSnapshotTotal}
	manifestLimit    = varde.Limit{What: "a snapshot manifest", Bytes: maxSnapshotManifest}
	snapshotEntLimit = varde.Limit{What: "a file in a guest snapshot", Bytes: maxSnapshotFile}
	// guestFileLimit bounds every file the checks read from a root (live, directory or snapshot).
	guestFileLimit = varde.Limit{What: "a guest file", Bytes: maxSnapshotFile}
)

// readFile reads name from fsys under guestFileLimit; a device or FIFO planted in a directory root is
// refused rather than read forever.
func readFile(fsys fs.FS, name string) ([]byte, error) {
	return varde.ReadFSFile(fsys, name, guestFileLimit)
}

// OpenSnapshot reads a snapshot tarball written by Collect into memory. A file that is not a gzip tar
// starting with a valid varde-snapshot.json is refused with an error naming it.
func OpenSnapshot(ctx context.Context, file string) (Root, error) {
	f, err := varde.OpenFile(file, snapshotLimit)
	if err != nil {
		return Root{}, fmt.Errorf("snapshot %w", err) // the error starts with file
	}
	defer f.Close()
	r, err := ReadSnapshot(ctx, f)
	if err != nil {
		return Root{}, fmt.Errorf("snapshot %s: %w", file, err)
	}
	r.Name = file
	return r, nil
}

// snapshotLimits are the limits ReadSnapshot holds a tarball to; tests lower them.
type snapshotLimits struct {
	total   int64 // bytes held in memory: data, names and entryOverhead per entry
	entries int
	name    int // bytes of one entry name
}

var defaultSnapshotLimits = snapshotLimits{total: maxSnapshotTotal, entries: maxSnapshotEntries, name: maxSnapshotName}

// ReadSnapshot reads a snapshot tarball from r, holding it to the snapshot limits.
func ReadSnapshot(ctx context.Context, r io.Reader) (Root, error) {
	return readSnapshot(ctx, r, defaultSnapshotLimits)
}

func readSnapshot(ctx context.Context, r io.Reader, lim snapshotLimits) (Root, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return Root{}, fmt.Errorf("not a varde snapshot (not gzip: %v)", err)
	}
	tr := tar.NewReader(varde.LimitReader(gz, "unpacked tar stream", unpackedLimit))
	hdr, err := tr.Next()
	if err != nil {
		return Root{}, fmt.Errorf("not a varde snapshot (not a tar archive: %v)", err)
	}
	if hdr.Name != ManifestName {
		return Root{}, fmt.Errorf("not a varde snapshot (first entry is %q, want %s)", trimName(hdr.Name), ManifestName)
	}
	// Checked before reading: a manifest cut at the limit would fail as invalid JSON, hiding the cause.
	if hdr.Size > maxSnapshotManifest {
		return Root{}, varde.TooLarge(ManifestName, hdr.Size, manifestLimit)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return Root{}, fmt.Errorf("not a varde snapshot (reading %s: %w)", ManifestName, err)
	}
	m, err := parseManifest(data)
	if err != nil {
		return Root{}, err
	}
	// fstest.MapFS is a plain in-memory fs.FS (the package does not import testing); it synthesises parent
	// directories and implements ReadDir, Stat and Glob as os.DirFS does.
	mfs := fstest.MapFS{ManifestName: &fstest.MapFile{Data: data, Mode: 0o444}}
	total := int64(len(data) + len(ManifestName) + entryOverhead)
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
		if len(mfs) >= lim.entries {
			return Root{}, fmt.Errorf("corrupt snapshot: more than %d entries, the limit for a snapshot", lim.entries)
		}
		if len(hdr.Name) > lim.name {
			return Root{}, fmt.Errorf("corrupt snapshot: entry name of %d bytes (%q) is over the %d-byte limit",
				len(hdr.Name), trimName(hdr.Name), lim.name)
		}
		name := strings.TrimSuffix(path.Clean(strings.TrimPrefix(hdr.Name, "/")), "/")
		if !fs.ValidPath(name) || name == "." {
			return Root{}, fmt.Errorf("corrupt snapshot: bad entry name %q", hdr.Name)
		}
		if _, dup := mfs[name]; dup {
			return Root{}, fmt.Errorf("corrupt snapshot: entry %s given twice", name)
		}
		total += int64(len(name) + entryOverhead)
		switch hdr.Typeflag {
		case tar.TypeDir:
			mfs[name] = &fstest.MapFile{Mode: fs.ModeDir | 0o555, ModTime: hdr.ModTime}
		case tar.TypeReg:
			if hdr.Size > maxSnapshotFile {
				return Root{}, fmt.Errorf("corrupt snapshot: %w", varde.TooLarge(name, hdr.Size, snapshotEntLimit))
			}
			total += hdr.Size
			b, err := io.ReadAll(tr)
			if err != nil {
				return Root{}, fmt.Errorf("corrupt snapshot: %s: %w", name, err)
			}
			mfs[name] = &fstest.MapFile{Data: b, Mode: 0o444, ModTime: hdr.ModTime}
		default:
			return Root{}, fmt.Errorf("corrupt snapshot: entry %s has unsupported type %q", name, hdr.Typeflag)
		}
		if total > lim.total {
			return Root{}, fmt.Errorf("corrupt snapshot: its %d entries take more than the %s limit for a snapshot in memory (names and data)",
				len(mfs), varde.FormatSize(lim.total))
		}
	}
	return Root{FS: mfs, Kind: tuning.RootSnapshot, Manifest: m}, nil
}

// trimName shortens a hostile entry name for an error message.
func trimName(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
