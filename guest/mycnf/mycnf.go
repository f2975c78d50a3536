// Package mycnf parses MySQL/MariaDB option files (my.cnf) with !include and !includedir, read from an fs.FS.
package mycnf

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/varde/varde"
)

// fileLimit bounds each file read, includes too; real ones are a few KiB.
var fileLimit = varde.Limit{What: "a MySQL option file", Bytes: 8 << 20}

// Option is one "key = value" line. Key is normalised: dashes become underscores, as the server does.
type Option struct {
	Section string `json:"section"`
	Key     string `json:"key"`
	Value   string `json:"value"`
	// HasValue is false for bare flags such as "skip-name-resolve".
	HasValue bool   `json:"has_value"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

// Config is every option read, in file order with includes inlined.
type Config struct {
	Files   []string `json:"files"`
	Options []Option `json:"options"`
}

// SyntaxError names the file and line of a parse error.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

const maxIncludeDepth = 10

// Parse reads the option file name (a path inside fsys, without leading slash) and its includes.
func Parse(fsys fs.FS, name string) (*Config, error) {
	p := &parser{fsys: fsys, seen: map[string]bool{}}
	if err := p.file(name, 0); err != nil {
		return nil, err
	}
	return &Config{Files: p.files, Options: p.opts}, nil
}

// ParseBytes parses one file's text; include directives are checked for syntax but not followed.
func ParseBytes(name string, data []byte) ([]Option, error) {
	p := &parser{}
	if err := p.text(name, data, -1); err != nil {
		return nil, err
	}
	return p.opts, nil
}

// Lookup returns the last value of key (dashes or underscores) in any of sections; later options win.
func (c *Config) Lookup(key string, sections ...string) (Option, bool) {
	key = normKey(key)
	var found Option
	ok := false
	for _, o := range c.Options {
		if o.Key != key {
			continue
		}
		for _, s := range sections {
			if o.Section == s {
				found, ok = o, true
			}
		}
	}
	return found, ok
}

type parser struct {
	fsys    fs.FS
	files   []string
	opts    []Option
	seen    map[string]bool
	section string
}

func rooted(name string) string { return "/" + strings.TrimPrefix(name, "/") }

func (p *parser) file(name string, depth int) error {
	data, err := varde.ReadFSFile(p.fsys, name, fileLimit)
	if err != nil {
		return fmt.Errorf("option file %s: %w", rooted(name), err)
	}
	if p.seen[name] {
		return nil // the server skips a file already read; so do we, which also ends include loops
	}
	p.seen[name] = true
	p.files = append(p.files, rooted(name))
	return p.text(rooted(name), data, depth)
}

func normKey(k string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(k)), "-", "_")
}

func (p *parser) text(file string, data []byte, depth int) error {
	// A section header carries over into included files in the server too, but each top-level file starts
	// without one; the server rejects options before any group, and so do we.
	for n, raw := range strings.Split(string(data), "\n") {
		line := n + 1
		s := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if s == "" || s[0] == '#' || s[0] == ';' {
			continue
		}
		if s[0] == '!' {
			if err := p.directive(file, line, s, depth); err != nil {
				return err
			}
			continue
		}
		if s[0] == '[' {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return &SyntaxError{file, line, fmt.Sprintf("section header %q has no closing \"]\"", s)}
			}
			rest := strings.TrimSpace(s[end+1:])
			if rest != "" && rest[0] != '#' && rest[0] != ';' {
				return &SyntaxError{file, line, fmt.Sprintf("text after section header: %q", rest)}
			}
			name := strings.ToLower(strings.TrimSpace(s[1:end]))
			if name == "" {
				return &SyntaxError{file, line, "empty section name"}
			}
			p.section = name
			continue
		}
		if p.section == "" {
			return &SyntaxError{file, line, fmt.Sprintf("option %q before any [section]", s)}
		}
		key, val, has := strings.Cut(s, "=")
		k := normKey(stripComment(key))
		if k == "" || strings.ContainsAny(k, " \t") {
			return &SyntaxError{file, line, fmt.Sprintf("malformed option line %q", s)}
		}
		v := ""
		if has {
			var err error
			v, err = value(val)
			if err != nil {
				return &SyntaxError{file, line, err.Error()}
			}
		}
		p.opts = append(p.opts, Option{Section: p.section, Key: k, Value: v, HasValue: has, File: file, Line: line})
	}
	return nil
}

func stripComment(s string) string {
	if i := strings.IndexAny(s, "#"); i >= 0 {
		s = s[:i]
	}
	return s
}

// value unquotes a value and drops a trailing comment, following the server's rules: a quoted value ends at
// its closing quote, an unquoted one at " #".
func value(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v != "" && (v[0] == '"' || v[0] == '\'') {
		q := v[0]
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				switch v[i+1] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				default:
					b.WriteByte(v[i+1])
				}
				i++
				continue
			}
			if v[i] == q {
				rest := strings.TrimSpace(v[i+1:])
				if rest != "" && rest[0] != '#' {
					return "", fmt.Errorf("text after quoted value: %q", rest)
				}
				return b.String(), nil
			}
			b.WriteByte(v[i])
		}
		return "", errors.New("unterminated quoted value")
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	} else if i := strings.Index(v, "\t#"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v), nil
}

func (p *parser) directive(file string, line int, s string, depth int) error {
	word, arg, _ := strings.Cut(s, " ")
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		word, arg = s[:i], s[i+1:]
	}
	arg = strings.TrimSpace(arg)
	switch word {
	case "!include", "!includedir":
	default:
		return &SyntaxError{file, line, fmt.Sprintf("unknown directive %q", word)}
	}
	if arg == "" {
		return &SyntaxError{file, line, word + " needs a path"}
	}
	if depth < 0 {
		return nil
	}
	if depth+1 > maxIncludeDepth {
		return &SyntaxError{file, line, fmt.Sprintf("includes nested deeper than %d", maxIncludeDepth)}
	}
	target := strings.TrimPrefix(path.Clean(arg), "/")
	if !strings.HasPrefix(arg, "/") {
		target = path.Join(path.Dir(strings.TrimPrefix(file, "/")), arg)
	}
	saved := p.section
	defer func() { p.section = saved }()
	if word == "!include" {
		p.section = ""
		if err := p.file(target, depth+1); err != nil {
			var se *SyntaxError
			if errors.As(err, &se) {
				return err
			}
			return fmt.Errorf("%s:%d: %w", file, line, err)
		}
		return nil
	}
	ents, err := fs.ReadDir(p.fsys, target)
	if err != nil {
		return fmt.Errorf("%s:%d: !includedir %s: %w", file, line, arg, err)
	}
	var names []string
	for _, e := range ents {
		// The server reads only *.cnf files from an included directory (and *.ini on Windows).
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".cnf") {
			names = append(names, path.Join(target, e.Name()))
		}
	}
	sort.Strings(names)
	for _, n := range names {
		p.section = ""
		if err := p.file(n, depth+1); err != nil {
			var se *SyntaxError
			if errors.As(err, &se) {
				return err
			}
			return fmt.Errorf("%s:%d: !includedir: %w", file, line, err)
		}
	}
	return nil
}

// ParseSize reads a server size value such as "2G", "512M", "134217728" into bytes.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty size")
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	case 't', 'T':
		mult = 1 << 40
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || fmt.Sprint(n) != s || n < 0 {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size out of range: %q", s)
	}
	return n * mult, nil
}
