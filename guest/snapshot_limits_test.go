package guest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/varde/varde"
)

const goodManifest = `{"format":"varde-guest-snapshot","version":1}`

// hostileSnapshot writes a snapshot whose manifest is fine and whose other entries are given by headers;
// regular entries get Size bytes of data.
func hostileSnapshot(t *testing.T, hdrs func(tw *tar.Writer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o444, Size: int64(len(goodManifest)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(goodManifest))
	if err := hdrs(tw); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}

func TestSnapshotLimitsCountNamesAndEntries(t *testing.T) {
	t.Parallel()
	longNames := func(n, size int) func(tw *tar.Writer) error {
		return func(tw *tar.Writer) error {
			for i := range n {
				name := fmt.Sprintf("%06d/%s", i, strings.Repeat("n", size))
				if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o555, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
					return err
				}
			}
			return nil
		}
	}
	cases := []struct {
		name string
		data []byte
		lim  snapshotLimits
		want string
	}{
		// The reported attack: thousands of entries with 900 KiB names (here the first one is enough).
		{"900 KiB name", hostileSnapshot(t, longNames(3, 900<<10)), defaultSnapshotLimits, "entry name of 921607 bytes"},
		// Names alone, each under the name limit, fill the memory limit.
		{"names over total", hostileSnapshot(t, longNames(300, 4000)), snapshotLimits{total: 1 << 20, entries: 1000, name: 4096},
			"take more than the 1 MiB limit for a snapshot in memory"},
		{"entries", hostileSnapshot(t, longNames(11, 1)), snapshotLimits{total: 1 << 20, entries: 10, name: 4096},
			"more than 10 entries"},
		{"duplicate", hostileSnapshot(t, func(tw *tar.Writer) error {
			for range 2 {
				if err := tw.WriteHeader(&tar.Header{Name: "etc/", Mode: 0o555, Typeflag: tar.TypeDir}); err != nil {
					return err
				}
			}
			return nil
		}), defaultSnapshotLimits, "entry etc given twice"},
	}
	for _, c := range cases {
		_, err := readSnapshot(context.Background(), bytes.NewReader(c.data), c.lim)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("%s: error of %d bytes quotes too much of the input", c.name, len(err.Error()))
		}
	}
	// Under the limits the same shape reads.
	if _, err := readSnapshot(context.Background(), bytes.NewReader(hostileSnapshot(t, longNames(10, 100))), snapshotLimits{total: 1 << 20, entries: 11, name: 4096}); err != nil {
		t.Errorf("10 entries under the limits: %v", err)
	}
}

// A 100 MiB manifest is refused as too large before it is read, not as invalid JSON after a cut.
func TestSnapshotManifestTooLarge(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o444, Size: 100 << 20, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(`{"format":"varde-guest-snapshot",`))
	gz.Close() // the rest is never read
	_, err := ReadSnapshot(context.Background(), bytes.NewReader(b.Bytes()))
	if !errors.Is(err, varde.ErrTooLarge) || !strings.Contains(err.Error(), "varde-snapshot.json: too large: 100 MiB is over the 1 MiB limit for a snapshot manifest") {
		t.Fatalf("100 MiB manifest: %v", err)
	}
}

func TestOpenSnapshotRefusesNonRegular(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "snap.tar.gz")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/dev/zero", fifo} {
		if _, err := OpenSnapshot(context.Background(), p); !errors.Is(err, varde.ErrNotRegular) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", p, err)
		}
	}
	// A directory root whose manifest is a FIFO is refused, not read forever.
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, ManifestName), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := DirRoot(dir); !errors.Is(err, varde.ErrNotRegular) {
		t.Errorf("FIFO manifest: %v", err)
	}
}
