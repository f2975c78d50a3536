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
	"path"
	"sort"
	"sync"

	"github.com/varde/varde"
)

// Collect writes a snapshot of root to w: a gzip tar whose first entry is varde-snapshot.json (format,
// version, host, time, two /proc/stat samples), followed by exactly the files and directories the checks
// read, so `check --snapshot` sees what a live check sees. On a live root it waits cfg.StealInterval
// between the two /proc/stat samples.
func Collect(ctx context.Context, root Root, w io.Writer, cfg Config) (Manifest, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Manifest{}, err
	}
	samples, err := stealSamples(ctx, root, cfg)
	if err != nil {
		return Manifest{}, fmt.Errorf("collecting steal samples: %w", err)
	}
	rec := &recorder{fsys: root.FS, entries: map[string]bool{}}
	facts := gatherFiles(rec)
	m := Manifest{Format: SnapshotFormat, Version: SnapshotVersion, Host: facts.Host, Time: cfg.Now().UTC(),
		Tool: varde.Version, StatSamples: samples}

	// Every parent directory is an entry too, so ReadDir and Stat work on the snapshot as on the source.
	all := map[string]bool{}
	for name, isDir := range rec.entries {
		if name == "." || name == ManifestName {
			continue
		}
		all[name] = all[name] || isDir
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			all[p] = true
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	m.Files = len(names)

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	if err := writeEntry(tw, ManifestName, mb, false, m); err != nil {
		return Manifest{}, err
	}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return Manifest{}, err
		}
		var data []byte
		if !all[n] {
			b, err := readFile(root.FS, n)
			switch {
			case errors.Is(err, varde.ErrTooLarge):
				return Manifest{}, fmt.Errorf("snapshot: /%w", err)
			case err != nil:
				// Listed but unreadable (sysfs bind/unbind): keep the name so directory listings match.
				cfg.Logger.Debug("snapshot: file listed but not readable, stored empty", "file", "/"+n, "err", err)
			default:
				data = b
			}
		}
		if err := writeEntry(tw, n, data, all[n], m); err != nil {
			return Manifest{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("snapshot: %w", err)
	}
	if err := gz.Close(); err != nil {
		return Manifest{}, fmt.Errorf("snapshot: %w", err)
	}
	return m, nil
}

func writeEntry(tw *tar.Writer, name string, data []byte, dir bool, m Manifest) error {
	h := &tar.Header{Name: name, Mode: 0o444, Size: int64(len(data)), ModTime: m.Time, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if dir {
		h = &tar.Header{Name: name + "/", Mode: 0o555, ModTime: m.Time, Typeflag: tar.TypeDir, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("snapshot: %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("snapshot: %s: %w", name, err)
	}
	return nil
}

// recorder is an fs.FS that remembers every path opened or listed (true for directories), so a snapshot
// can hold exactly what the checks looked at.
type recorder struct {
	fsys    fs.FS
	mu      sync.Mutex
	entries map[string]bool
}

func (r *recorder) add(name string, dir bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[name] = r.entries[name] || dir
}

func (r *recorder) Open(name string) (fs.File, error) {
	f, err := r.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return f, nil
	}
	r.add(name, st.IsDir())
	if st.IsDir() {
		return &recordingDir{File: f, r: r, name: name}, nil
	}
	return f, nil
}

type recordingDir struct {
	fs.File
	r    *recorder
	name string
}

func (d *recordingDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rd, ok := d.File.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: fs.ErrInvalid}
	}
	ents, err := rd.ReadDir(n)
	for _, e := range ents {
		p := path.Join(d.name, e.Name())
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			// /sys is symlinks to device directories; the snapshot stores what they point to.
			st, err := fs.Stat(d.r.fsys, p)
			isDir = err == nil && st.IsDir()
		}
		d.r.add(p, isDir)
	}
	return ents, err
}
