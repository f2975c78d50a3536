package xencfg

import (
	"errors"
	"strings"
	"testing"
)

const seedCfg = `# /etc/xen/configs/mailserver.cfg
name = 'mailserver_node_01'
memory = 2048
vcpus = 2
# Booting a PV kernel directly
kernel = '/boot/vmlinuz-2.6.32-279.el6.x86_64'
ramdisk = '/boot/initramfs-2.6.32-279.el6.x86_64.img'
root = '/dev/xvda1 ro'
# Network and Disk
vif = [ 'bridge=xenbr0, mac=00:16:3E:XX:XX:XX' ]
disk = [ 'phy:/dev/vg_xen/mailserver_disk,xvda,w' ]
# Behavior
on_poweroff = 'destroy'
on_reboot = 'restart'
on_crash = 'restart'
`

func TestParseSeed(t *testing.T) {
	t.Parallel()
	c, err := Parse("/etc/xen/configs/mailserver.cfg", []byte(seedCfg))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("memory"); v.Kind != Number || v.Num != 2048 {
		t.Errorf("memory = %+v", v)
	}
	if v, _ := c.Get("disk"); v.Kind != List || len(v.List) != 1 || v.List[0].Str != "phy:/dev/vg_xen/mailserver_disk,xvda,w" {
		t.Errorf("disk = %+v", v)
	}
	if v, _ := c.Get("on_crash"); v.Str != "restart" {
		t.Errorf("on_crash = %+v", v)
	}
	if len(c.Settings) != 11 || c.Settings[1].Line != 3 {
		t.Errorf("settings %d, memory line %d", len(c.Settings), c.Settings[1].Line)
	}
}

func TestParseForms(t *testing.T) {
	t.Parallel()
	c, err := Parse("x.cfg", []byte("disk = [\n  'format=raw, vdev=xvda, access=rw, target=/dev/vg/a', # first\n  \"file:/b.img,xvdb,w\",\n]\nmaxmem=0x1000\ncpu_weight = 1.5; acpi = True\nextra = \"\"\"a\nb\"\"\"\nvcpus = 2 # trailing\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("disk"); len(v.List) != 2 {
		t.Errorf("disk = %v", v)
	}
	if v, _ := c.Get("maxmem"); v.Num != 4096 {
		t.Errorf("maxmem = %v", v)
	}
	if v, _ := c.Get("acpi"); v.Num != 1 {
		t.Errorf("acpi = %v", v)
	}
	if v, _ := c.Get("vcpus"); v.Raw != "2" {
		t.Errorf("vcpus = %v", v)
	}
}

func TestSyntaxErrorsNameLine(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"memory 2048\n":      "x.cfg:1: expected \"=\"",
		"a = 1\nb = [1, 2\n": "x.cfg:2: list opened here is not closed",
		"a = 'open\n":        "x.cfg:1: unterminated string",
		"a = restart\n":      "x.cfg:1: unquoted word",
		"a = 1 2\n":          "x.cfg:1: unexpected",
		"\n\n= 3\n":          "x.cfg:3: expected a setting name",
		"a = 1.2.3\n":        "x.cfg:1: bad number",
		"a = [1 2]\n":        "x.cfg:1: expected \",\"",
	}
	for text, want := range cases {
		_, err := Parse("x.cfg", []byte(text))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", text, err, want)
		}
	}
}

func FuzzXenCfg(f *testing.F) {
	f.Add([]byte(seedCfg))
	f.Add([]byte("a = [[1, (2, 'x')], \"\"\"t\"\"\"]\nb = -0x10; c = True\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.cfg", data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error without line: %v", err)
			}
			return
		}
		for _, s := range c.Settings {
			if s.Key == "" || s.Line < 1 {
				t.Fatalf("bad setting %+v", s)
			}
			_ = s.Value.String()
		}
	})
}
