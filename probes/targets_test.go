package probes

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Target
	}{
		{"example.com", Target{Raw: "example.com", Host: "example.com"}},
		{"example.com:443", Target{Raw: "example.com:443", Host: "example.com", Port: 443}},
		{"192.0.2.1", Target{Raw: "192.0.2.1", Host: "192.0.2.1"}},
		{"192.0.2.1:22", Target{Raw: "192.0.2.1:22", Host: "192.0.2.1", Port: 22}},
		{"2001:db8::1", Target{Raw: "2001:db8::1", Host: "2001:db8::1"}},
		{"[2001:db8::1]:8443", Target{Raw: "[2001:db8::1]:8443", Host: "2001:db8::1", Port: 8443}},
		{"  oslo-nix.example.no  ", Target{Raw: "oslo-nix.example.no", Host: "oslo-nix.example.no"}},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseTarget(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseTargetErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, wantErr string }{
		{"host:0", "port 0 out of range"},
		{"host:65536", "port 65536 out of range"},
		{"host:http", `port "http" is not a number`},
		{"[example.com]:80", "not an IPv6 address"},
		{"bad host", "whitespace"},
		{"exa$mple.com", "invalid character"},
		{"a:b:c", "not a host, host:port or IP address"},
		{"-lead.example", "starts or ends with '-'"},
		{"", "empty target"},
		{"300.1.1.1", `target "300.1.1.1": not a valid IP address`},
		{"10.0.0.256:80", `target "10.0.0.256:80": not a valid IP address`},
	}
	for _, tt := range tests {
		_, err := ParseTarget(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseTarget(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestParseTargetsFile(t *testing.T) {
	t.Parallel()
	in := "# lab targets\n\noslo.example:22   # ssh\n198.18.0.1\n  \n2001:db8::2\n"
	got, err := ParseTargets(strings.NewReader(in), "targets.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Port != 22 || got[1].Host != "198.18.0.1" || got[2].Host != "2001:db8::2" {
		t.Fatalf("got %+v", got)
	}
}

func TestParseTargetsErrorNamesFileAndLine(t *testing.T) {
	t.Parallel()
	in := "ok.example\n# comment\nok2.example:80\nbroken:99999\n"
	_, err := ParseTargets(strings.NewReader(in), "testdata/bad.txt")
	if err == nil || !strings.HasPrefix(err.Error(), "testdata/bad.txt:4: ") || !strings.Contains(err.Error(), "99999") {
		t.Fatalf("error = %v, want testdata/bad.txt:4: ... 99999", err)
	}
}

func TestParseTargetsTestdata(t *testing.T) {
	t.Parallel()
	f := openTestdata(t, "targets.txt")
	got, err := ParseTargets(f, "testdata/targets.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("got %d targets, want 5: %+v", len(got), got)
	}
	f = openTestdata(t, "targets-bad.txt")
	if _, err := ParseTargets(f, "testdata/targets-bad.txt"); err == nil || !strings.HasPrefix(err.Error(), "testdata/targets-bad.txt:3: ") {
		t.Fatalf("error = %v, want testdata/targets-bad.txt:3: ...", err)
	}
}
