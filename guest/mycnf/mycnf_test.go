package mycnf

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseIncludes(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"etc/mysql/my.cnf":        {Data: []byte("# comment\n[client-server]\nsocket = /run/mysqld/mysqld.sock\n\n!includedir /etc/mysql/conf.d/\n!include extra.cnf\n")},
		"etc/mysql/conf.d/b.cnf":  {Data: []byte("[mysqld]\ninnodb_buffer_pool_size = 512M\n")},
		"etc/mysql/conf.d/a.cnf":  {Data: []byte("[mysqld]\ninnodb-buffer-pool-size=256M ; not a comment in mysql\nskip-name-resolve\n")},
		"etc/mysql/conf.d/README": {Data: []byte("[mysqld]\ninnodb_buffer_pool_size = 99G\n")},
		"etc/mysql/extra.cnf":     {Data: []byte("[mysqld]\nbind-address = \"127.0.0.1\" # quoted\n")},
	}
	c, err := Parse(fsys, "etc/mysql/my.cnf")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Files, " "); got != "/etc/mysql/my.cnf /etc/mysql/conf.d/a.cnf /etc/mysql/conf.d/b.cnf /etc/mysql/extra.cnf" {
		t.Errorf("files %s", got)
	}
	o, ok := c.Lookup("innodb-buffer-pool-size", "mysqld")
	if !ok || o.Value != "512M" || o.File != "/etc/mysql/conf.d/b.cnf" || o.Line != 2 {
		t.Errorf("buffer pool = %+v", o)
	}
	if o, _ := c.Lookup("bind_address", "mysqld"); o.Value != "127.0.0.1" {
		t.Errorf("bind-address = %q", o.Value)
	}
	if o, ok := c.Lookup("skip_name_resolve", "mysqld"); !ok || o.HasValue {
		t.Errorf("flag option = %+v", o)
	}
}

func TestSyntaxErrorsNameFileAndLine(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"[mysqld\n":                   "/my.cnf:1: section header",
		"key = 1\n":                   "/my.cnf:1: option \"key = 1\" before any [section]",
		"[mysqld]\n\nbad key = 1\n":   "/my.cnf:3: malformed option",
		"[mysqld]\na = 'open\n":       "/my.cnf:2: unterminated quoted value",
		"[mysqld]\n!includ x\n":       "/my.cnf:2: unknown directive",
		"[mysqld]\n!include\n":        "/my.cnf:2: !include needs a path",
		"[mysqld]\n!include nope.cnf": "/my.cnf:2: option file /nope.cnf",
		"[]\n":                        "/my.cnf:1: empty section name",
	}
	for text, want := range cases {
		_, err := Parse(fstest.MapFS{"my.cnf": {Data: []byte(text)}}, "my.cnf")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", text, err, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"134217728": 134217728, "1G": 1 << 30, "512M": 512 << 20, "64k": 64 << 10} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "G", "1.5G", "-1", "abc", "99999999999999999999", "9999999999T"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func FuzzMyCnf(f *testing.F) {
	f.Add([]byte("[mysqld]\ninnodb_buffer_pool_size = 1G\n!includedir /etc/mysql/conf.d/\n"))
	f.Add([]byte("[client]\npassword = \"a\\\"b\" # c\n"))
	f.Add([]byte("!include my.cnf\n[x]\ny\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		opts, err := ParseBytes("fuzz.cnf", data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		for _, o := range opts {
			if o.Section == "" || o.Key == "" || o.Line < 1 {
				t.Fatalf("bad option %+v", o)
			}
			_, _ = ParseSize(o.Value)
		}
		// Self-inclusion must terminate.
		_, _ = Parse(fstest.MapFS{"my.cnf": {Data: data}}, "my.cnf")
	})
}
