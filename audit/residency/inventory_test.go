package residency

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestExtractHosts(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"postgres://app:secret@db1.example.no:5432/app?sslmode=verify-full": {"db1.example.no"},
		"postgresql://db1.example.no:5432,db2.example.no:5433/app":          {"db1.example.no", "db2.example.no"},
		"mysql://user@mysql.example.com/shop":                               {"mysql.example.com"},
		"https://backups.s3.eu-north-1.amazonaws.com/prefix/":               {"backups.s3.eu-north-1.amazonaws.com"},
		"DB.Example.NO.":                  {"db.example.no"},
		"db.example.no:5432":              {"db.example.no"},
		"192.0.2.10":                      {"192.0.2.10"},
		"[2001:db8::1]:5432":              {"2001:db8::1"},
		"2001:db8::1":                     {"2001:db8::1"},
		"postgres://[2001:db8::2]:5432/x": {"2001:db8::2"},
	} {
		got, err := ExtractHosts(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ExtractHosts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"file:///var/db", "db example", "postgres://", "ex!ample.com"} {
		if got, err := ExtractHosts(bad); err == nil {
			t.Errorf("ExtractHosts(%q) = %v, want an error", bad, got)
		}
	}
}

func TestLoadSampleInventory(t *testing.T) {
	t.Parallel()
	inv, err := LoadInventory(filepath.Join("testdata", "sample-inventory.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Stores) < 7 {
		t.Fatalf("%d stores, want at least 7", len(inv.Stores))
	}
	for _, s := range inv.Stores {
		if !strings.HasPrefix(s.Pos, filepath.Join("testdata", "sample-inventory.yaml")+":") || len(s.Hosts) == 0 {
			t.Errorf("store %+v", s)
		}
	}
}

func TestInventoryErrorsNameFileAndLine(t *testing.T) {
	t.Parallel()
	const head = "version: 1\nstores:\n"
	const good = "  - name: a\n    host: db.example.no\n    kind: postgres\n    purpose: accounts\n    data_category: ordinary\n    role: controller\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown field", head + good + "    colour: blue\n", "inv.yaml:9: store: unknown field \"colour\""},
		{"unknown top field", "verison: 1\nstores: []\n", "inv.yaml:1: inventory: unknown field \"verison\""},
		{"bad category", head + strings.Replace(good, "ordinary", "secret", 1), "inv.yaml:7: store \"a\": data_category \"secret\""},
		{"bad role", head + strings.Replace(good, "controller", "owner", 1), "inv.yaml:8: store \"a\": role \"owner\""},
		{"missing field", head + strings.Replace(good, "    purpose: accounts\n", "", 1), "inv.yaml:3: store: missing required field \"purpose\""},
		{"host and url", head + good + "    url: postgres://x/y\n", "inv.yaml:9: store \"a\": give host or url, not both"},
		{"bad host", head + strings.Replace(good, "db.example.no", "db example", 1), "inv.yaml:4: store \"a\": host \"db example\""},
		{"mechanism without reference", head + good + "    transfer_mechanism:\n      type: sccs\n", "inv.yaml:10: store \"a\": transfer_mechanism sccs needs a reference"},
		{"bad mechanism", head + good + "    transfer_mechanism:\n      type: consent\n      reference: x\n", "inv.yaml:10: store \"a\": transfer_mechanism type \"consent\""},
		{"mechanism unknown field", head + good + "    transfer_mechanism:\n      type: sccs\n      ref: x\n", "inv.yaml:11: store \"a\": transfer_mechanism: unknown field \"ref\""},
		{"duplicate name", head + good + good, "inv.yaml:9: store \"a\": name already used at inv.yaml:3"},
		{"syntax", head + "  - name: [\n", "inv.yaml: yaml: line"},
		{"empty", "", "inv.yaml: empty inventory"},
		{"no stores", "stores: []\n", "inv.yaml:1: stores: the list is empty"},
		{"unknown recipient", head + good + "    recipient: WHO\n", "inv.yaml:9: store \"a\": recipient \"WHO\""},
		{"dotted quad", head + strings.Replace(good, "db.example.no", "300.1.1.1", 1), "inv.yaml:4: store \"a\": host \"300.1.1.1\": not a valid IP address"},
		{"unbalanced bracket in URL", head + strings.Replace(good, "host: db.example.no", `url: "http://user:pw@[::1"`, 1), `inv.yaml:4: store "a": URL`},
		{"unbalanced bracket", head + strings.Replace(good, "db.example.no", `"[2001:db8::1"`, 1), "unbalanced brackets"},
		{"dotted quad in URL", head + strings.Replace(good, "host: db.example.no", "url: postgres://u@10.0.0.999:5432/db", 1), "inv.yaml:4: store \"a\": URL"},
	} {
		_, err := ParseInventory("inv.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestLoadInventoryMissingFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := LoadInventory(p)
	if err == nil || !strings.Contains(err.Error(), p) || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("LoadInventory(missing) = %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		type unwrapper interface{ Unwrap() error }
		u, ok := err.(unwrapper)
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestRedactLocation(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://app:s3cret@db.example.no:5432/app":                    "postgres://REDACTED@db.example.no:5432/app",
		"postgresql://u:p@h1:5432,h2:5433/app?sslmode=verify-full":        "postgresql://REDACTED@h1:5432,h2:5433/app?sslmode=verify-full",
		"mysql://shop@88.198.1.1:3306/shop":                               "mysql://REDACTED@88.198.1.1:3306/shop",
		"https://s3.example.com/b?X-Amz-Signature=abc&x-amz-credential=k": "https://s3.example.com/b?X-Amz-Signature=REDACTED&x-amz-credential=REDACTED",
		"postgres://h/db?user=app&password=pw&sslpassword=x#frag":         "postgres://h/db?user=app&password=REDACTED&sslpassword=REDACTED#frag",
		"redis://h:6379?access_token=t&db=2":                              "redis://h:6379?access_token=REDACTED&db=2",
		"db.example.no:5432":                                              "db.example.no:5432",
	} {
		if got := RedactLocation(in); got != want {
			t.Errorf("RedactLocation(%q) = %q, want %q", in, got, want)
		}
	}
	// A location that fails to parse is quoted redacted in the error too.
	_, err := ParseInventory("inv.yaml", []byte("stores:\n  - {name: a, url: \"postgres://u:hunter2@h1:5432,:5433/x\", kind: k, purpose: p, data_category: ordinary, role: controller}\n"))
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "inv.yaml:2") {
		t.Errorf("error %v: want it to name inv.yaml:2 without the password", err)
	}
}
