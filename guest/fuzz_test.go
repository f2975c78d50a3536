package guest

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"path/filepath"
	"testing"
)

// FuzzSnapshot feeds ReadSnapshot tar streams (gzipped here, so the fuzzer mutates the archive rather
// than gzip checksums), seeded with snapshots Collect wrote of the test fixtures. ReadSnapshot must not
// panic and its errors must say something; a snapshot it accepts must go through every check without
// a panic, since the checks then parse its files.
func FuzzSnapshot(f *testing.F) {
	for _, name := range fixtures {
		r, err := DirRoot(filepath.Join("testdata", "fixtures", name))
		if err != nil {
			f.Fatal(err)
		}
		var gz bytes.Buffer
		if _, err := Collect(context.Background(), r, &gz, testConfig()); err != nil {
			f.Fatal(err)
		}
		zr, err := gzip.NewReader(&gz)
		if err != nil {
			f.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, tarball []byte) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(tarball)
		zw.Close()
		root, err := ReadSnapshot(context.Background(), &b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if root.Manifest == nil || root.Kind == "" {
			t.Fatalf("accepted snapshot without manifest or kind: %+v", root)
		}
		rep, err := Check(context.Background(), root, testConfig())
		if err != nil {
			return
		}
		if len(rep.Results) == 0 {
			t.Fatal("a snapshot was checked with no results")
		}
	})
}
