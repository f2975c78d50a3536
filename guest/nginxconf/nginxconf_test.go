package nginxconf

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseQuotingCommentsBlocksIncludes(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"etc/nginx/nginx.conf": {Data: []byte(`# main
worker_processes  2; # Match number of Xen vCPUs
events { worker_connections 2048; }
http {
    log_format main '$remote_addr "$request" ; {not a block}';
    add_header X-Test "a \"quoted\" value";
    set $x ${host}suffix;
    include conf.d/*.conf;
    include /etc/nginx/mime.types;
}
`)},
		"etc/nginx/conf.d/b.conf":  {Data: []byte("server { listen 80; }\n")},
		"etc/nginx/conf.d/a.conf":  {Data: []byte("server { listen 81; }\n")},
		"etc/nginx/conf.d/c.other": {Data: []byte("{{{")},
		"etc/nginx/mime.types":     {Data: []byte("types { text/html html; }\n")},
	}
	c, err := Parse(fsys, "etc/nginx/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := "/etc/nginx/nginx.conf /etc/nginx/conf.d/a.conf /etc/nginx/conf.d/b.conf /etc/nginx/mime.types"
	if got := strings.Join(c.Files, " "); got != wantFiles {
		t.Errorf("files %q, want %q", got, wantFiles)
	}
	wp := Last(c.Directives, "worker_processes")
	if wp == nil || wp.Args[0] != "2" || wp.Line != 2 {
		t.Fatalf("worker_processes = %+v", wp)
	}
	if wc := Last(Block(c.Directives, "events"), "worker_connections"); wc == nil || wc.Args[0] != "2048" {
		t.Errorf("worker_connections = %+v", wc)
	}
	http := Block(c.Directives, "http")
	if lf := Last(http, "log_format"); lf == nil || lf.Args[1] != `$remote_addr "$request" ; {not a block}` {
		t.Errorf("log_format = %+v", lf)
	}
	if ah := Last(http, "add_header"); ah == nil || ah.Args[1] != `a "quoted" value` {
		t.Errorf("add_header = %+v", ah)
	}
	if s := Last(http, "set"); s == nil || s.Args[1] != "${host}suffix" {
		t.Errorf("set = %+v", s)
	}
	servers := Find(http, "server")
	if len(servers) != 2 || servers[0].Block[0].Args[0] != "81" || servers[0].File != "/etc/nginx/conf.d/a.conf" {
		t.Errorf("servers from include glob, in sorted order: %+v", servers)
	}
	if Block(http, "types") == nil {
		t.Error("types block from the absolute include is missing")
	}
}

func TestSyntaxErrorsNameFileAndLine(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"a;\nb c\n":                "/x.conf:2: directive \"b\" has no terminating",
		"http {\n  a 1;\n":         "/x.conf:2: unexpected end of file",
		"a 1;\n}\n":                "/x.conf:2: unexpected \"}\"",
		"a 'open\n\n":              "/x.conf:1: unterminated quoted string",
		"server {\n name x\n}\n":   "/x.conf:3: unexpected \"}\" after directive \"name\"",
		"include a b;\n":           "/x.conf:1: include takes one argument",
		"include missing.conf;\n":  "/x.conf:1: include:",
		"include x.conf;\n":        "includes nested deeper",
		"events { } ; \n":          "/x.conf:1: unexpected \";\"",
		"set $a ${unterminated;\n": "/x.conf:1: unterminated ${",
	}
	for text, want := range cases {
		_, err := Parse(fstest.MapFS{"x.conf": {Data: []byte(text)}}, "x.conf")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", text, err, want)
		}
	}
	_, err := Parse(fstest.MapFS{"x.conf": {Data: []byte("a;\nb c\n")}}, "x.conf")
	var se *SyntaxError
	if !errors.As(err, &se) || se.File != "/x.conf" || se.Line != 2 {
		t.Errorf("want a *SyntaxError at /x.conf:2, got %#v", err)
	}
}

func FuzzNginx(f *testing.F) {
	f.Add([]byte("worker_processes 2;\nevents { worker_connections 2048; }\nhttp { include x.conf; gzip on; }\n"))
	f.Add([]byte("log_format a '\"q\" \\' x';\nset $a ${b}c;\n# c\n"))
	f.Add([]byte("include x.conf;"))
	f.Add([]byte("a { b { c { } } }"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := ParseBytes("fuzz.conf", data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		var walk func([]*Directive)
		walk = func(ds []*Directive) {
			for _, d := range ds {
				if d.Line < 1 || d.File != "fuzz.conf" {
					t.Fatalf("directive %+v without position", d)
				}
				walk(d.Block)
			}
		}
		walk(ds)
		// The same text as a file including itself must end in an error, not a hang or a crash.
		fsys := fstest.MapFS{"x.conf": {Data: data}}
		_, _ = Parse(fsys, "x.conf")
	})
}
