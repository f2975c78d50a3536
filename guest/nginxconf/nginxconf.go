// Package nginxconf parses nginx configuration files (comments, quoting, blocks and include globs)
// read from an fs.FS, so varde can judge a live system, a directory or a snapshot alike.
package nginxconf

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
var fileLimit = varde.Limit{What: "an nginx config file", Bytes: 8 << 20}

// Directive is one nginx directive with its arguments and, for block directives, its children.
type Directive struct {
	Name  string       `json:"name"`
	Args  []string     `json:"args,omitempty"`
	File  string       `json:"file"`
	Line  int          `json:"line"`
	Block []*Directive `json:"block,omitempty"`
	// HasBlock distinguishes "events {}" (empty block) from a simple directive.
	HasBlock bool `json:"has_block,omitempty"`
}

// Config is a parsed nginx.conf with its includes inlined where they appeared.
type Config struct {
	// Files lists every file read, main file first, as rooted paths ("/etc/nginx/nginx.conf").
	Files      []string     `json:"files"`
	Directives []*Directive `json:"directives"`
}

// SyntaxError names the file and line of a parse error.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// maxIncludeDepth stops include loops ("include nginx.conf;") from recursing forever.
const maxIncludeDepth = 16

// maxFiles bounds the total files read, since a file included twice per level grows exponentially.
const maxFiles = 1024

// Parse reads the main config at name (a path inside fsys, without leading slash) and every file it includes.
// Relative include paths are resolved against the main file's directory, as nginx does with its conf prefix.
func Parse(fsys fs.FS, name string) (*Config, error) {
	p := &parser{fsys: fsys, prefix: path.Dir(name)}
	ds, err := p.parseFile(name, 0)
	if err != nil {
		return nil, err
	}
	return &Config{Files: p.files, Directives: ds}, nil
}

// ParseBytes parses one file's text without following includes (include directives stay as they are).
func ParseBytes(name string, data []byte) ([]*Directive, error) {
	p := &parser{}
	toks, err := tokenize(name, data)
	if err != nil {
		return nil, err
	}
	i := 0
	return p.parseBlock(name, toks, &i, false, -1)
}

type parser struct {
	fsys   fs.FS
	prefix string
	files  []string
}

func rooted(name string) string { return "/" + strings.TrimPrefix(name, "/") }

func (p *parser) parseFile(name string, depth int) ([]*Directive, error) {
	data, err := varde.ReadFSFile(p.fsys, name, fileLimit)
	if err != nil {
		return nil, fmt.Errorf("nginx config %s: %w", rooted(name), err)
	}
	p.files = append(p.files, rooted(name))
	toks, err := tokenize(rooted(name), data)
	if err != nil {
		return nil, err
	}
	i := 0
	return p.parseBlock(rooted(name), toks, &i, false, depth)
}

type token struct {
	text   string
	line   int
	quoted bool
}

func tokenize(file string, data []byte) ([]token, error) {
	var toks []token
	line := 1
	s := string(data)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == ';' || c == '{' || c == '}':
			toks = append(toks, token{text: string(c), line: line})
			i++
		case c == '"' || c == '\'':
			start := line
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) {
					// nginx keeps the backslash except before the quote character itself.
					if s[i+1] != c {
						b.WriteByte('\\')
					}
					if s[i+1] == '\n' {
						line++
					}
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == c {
					closed = true
					i++
					break
				}
				if s[i] == '\n' {
					line++
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, &SyntaxError{file, start, "unterminated quoted string"}
			}
			toks = append(toks, token{text: b.String(), line: start, quoted: true})
		default:
			var b strings.Builder
			for i < len(s) {
				c := s[i]
				if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v' || c == ';' || c == '{' || c == '}' {
					break
				}
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(c)
					b.WriteByte(s[i+1])
					if s[i+1] == '\n' {
						line++
					}
					i += 2
					continue
				}
				// "${var}" keeps its braces inside a word, as nginx allows.
				if c == '$' && i+1 < len(s) && s[i+1] == '{' {
					end := strings.IndexByte(s[i:], '}')
					if end < 0 {
						return nil, &SyntaxError{file, line, "unterminated ${ variable"}
					}
					seg := s[i : i+end+1]
					line += strings.Count(seg, "\n")
					b.WriteString(seg)
					i += end + 1
					continue
				}
				b.WriteByte(c)
				i++
			}
			toks = append(toks, token{text: b.String(), line: line})
		}
	}
	return toks, nil
}

func isPunct(t token, s string) bool { return !t.quoted && t.text == s }

// parseBlock reads directives until the end of input (top level) or a closing brace (inBlock).
func (p *parser) parseBlock(file string, toks []token, i *int, inBlock bool, depth int) ([]*Directive, error) {
	var out []*Directive
	for *i < len(toks) {
		t := toks[*i]
		if isPunct(t, "}") {
			if !inBlock {
				return nil, &SyntaxError{file, t.line, `unexpected "}"`}
			}
			*i++
			return out, nil
		}
		if isPunct(t, ";") || isPunct(t, "{") {
			return nil, &SyntaxError{file, t.line, fmt.Sprintf("unexpected %q", t.text)}
		}
		d := &Directive{Name: t.text, File: file, Line: t.line}
		*i++
		for {
			if *i >= len(toks) {
				return nil, &SyntaxError{file, t.line, fmt.Sprintf("directive %q has no terminating \";\" or \"{\"", d.Name)}
			}
			a := toks[*i]
			if isPunct(a, ";") {
				*i++
				break
			}
			if isPunct(a, "}") {
				return nil, &SyntaxError{file, a.line, fmt.Sprintf(`unexpected "}" after directive %q (missing ";")`, d.Name)}
			}
			if isPunct(a, "{") {
				*i++
				d.HasBlock = true
				kids, err := p.parseBlock(file, toks, i, true, depth)
				if err != nil {
					return nil, err
				}
				d.Block = kids
				break
			}
			d.Args = append(d.Args, a.text)
			*i++
		}
		if d.Name == "include" && !d.HasBlock && depth >= 0 {
			inc, err := p.include(d, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, inc...)
			continue
		}
		out = append(out, d)
	}
	if inBlock {
		return nil, &SyntaxError{file, lastLine(toks), `unexpected end of file, expecting "}"`}
	}
	return out, nil
}

func lastLine(toks []token) int {
	if len(toks) == 0 {
		return 1
	}
	return toks[len(toks)-1].line
}

func (p *parser) include(d *Directive, depth int) ([]*Directive, error) {
	if len(d.Args) != 1 {
		return nil, &SyntaxError{d.File, d.Line, fmt.Sprintf("include takes one argument, got %d", len(d.Args))}
	}
	if depth+1 > maxIncludeDepth {
		return nil, &SyntaxError{d.File, d.Line, fmt.Sprintf("includes nested deeper than %d (loop?)", maxIncludeDepth)}
	}
	pat := d.Args[0]
	if strings.HasPrefix(pat, "/") {
		pat = strings.TrimPrefix(path.Clean(pat), "/")
	} else {
		pat = path.Join(p.prefix, pat)
	}
	var names []string
	if strings.ContainsAny(pat, "*?[") {
		m, err := fs.Glob(p.fsys, pat)
		if err != nil {
			return nil, &SyntaxError{d.File, d.Line, fmt.Sprintf("include %q: %v", d.Args[0], err)}
		}
		// nginx includes glob matches in sorted order; no match is not an error.
		sort.Strings(m)
		names = m
	} else {
		names = []string{pat}
	}
	var out []*Directive
	for _, n := range names {
		if len(p.files) >= maxFiles {
			return nil, &SyntaxError{d.File, d.Line, fmt.Sprintf("more than %d files included (loop?)", maxFiles)}
		}
		ds, err := p.parseFile(n, depth+1)
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) {
				return nil, err
			}
			return nil, fmt.Errorf("%s:%d: include: %w", d.File, d.Line, err)
		}
		out = append(out, ds...)
	}
	return out, nil
}

// Find returns the directives named name directly inside ds (not in nested blocks).
func Find(ds []*Directive, name string) []*Directive {
	var out []*Directive
	for _, d := range ds {
		if d.Name == name {
			out = append(out, d)
		}
	}
	return out
}

// Last returns the last directive named name directly inside ds, or nil; nginx uses the last of duplicates
// for most directives and rejects duplicates for others, so the last is what took effect if nginx started.
func Last(ds []*Directive, name string) *Directive {
	f := Find(ds, name)
	if len(f) == 0 {
		return nil
	}
	return f[len(f)-1]
}

// Block returns the children of the first block directive named name directly inside ds, or nil.
func Block(ds []*Directive, name string) []*Directive {
	for _, d := range ds {
		if d.Name == name && d.HasBlock {
			return d.Block
		}
	}
	return nil
}
