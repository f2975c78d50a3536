package schedule

import (
	"os"
	"testing"

	"github.com/varde/varde/storage/pgtemp/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	os.Exit(pgtest.Main(m))
}
