package residency

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/varde/varde"
)

func TestLoadInventoryRefusesDevicesAndLargeFiles(t *testing.T) {
	t.Parallel()
	if _, err := LoadInventory("/dev/zero"); !errors.Is(err, varde.ErrNotRegular) || !strings.Contains(err.Error(), "/dev/zero: not a regular file") {
		t.Errorf("/dev/zero: %v", err)
	}
	big := filepath.Join(t.TempDir(), "inventory.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: the size is what is checked, before any byte is read.
	if err := f.Truncate(200 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = LoadInventory(big)
	if !errors.Is(err, varde.ErrTooLarge) || !strings.Contains(err.Error(), "inventory.yaml: too large: 200 MiB is over the 16 MiB limit for an inventory") {
		t.Errorf("200 MiB inventory: %v", err)
	}
}

func TestParseVantageRefusesNaN(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"oslo=NaN,10", "oslo=59,Inf", "oslo=91,0"} {
		if _, err := ParseVantage(s); err == nil {
			t.Errorf("ParseVantage(%q) accepted", s)
		}
	}
}
