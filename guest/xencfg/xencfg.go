// Package xencfg parses Xen domU configuration files (xl/xm .cfg: Python-like "key = value" lines with
// strings, numbers and lists).
package xencfg

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind says which of Value's fields is set.
type Kind int

const (
	String Kind = iota
	Number
	List
)

// Value is a string, a number or a list of values.
type Value struct {
	Kind Kind    `json:"kind"`
	Str  string  `json:"str,omitempty"`
	Num  float64 `json:"num,omitempty"`
	List []Value `json:"list,omitempty"`
	// Raw is the number's text, kept so "2048" prints as written.
	Raw string `json:"raw,omitempty"`
}

// String renders the value as the config would write it.
func (v Value) String() string {
	switch v.Kind {
	case Number:
		return v.Raw
	case List:
		parts := make([]string, len(v.List))
		for i, e := range v.List {
			parts[i] = e.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return strconv.Quote(v.Str)
}

// Setting is one assignment with where it was made.
type Setting struct {
	Key   string `json:"key"`
	Value Value  `json:"value"`
	Line  int    `json:"line"`
}

// Config is one parsed domU config file.
type Config struct {
	File     string    `json:"file"`
	Settings []Setting `json:"settings"`
}

// Get returns the last assignment of key.
func (c *Config) Get(key string) (Value, bool) {
	for i := len(c.Settings) - 1; i >= 0; i-- {
		if c.Settings[i].Key == key {
			return c.Settings[i].Value, true
		}
	}
	return Value{}, false
}

// SyntaxError names the file and line of a parse error.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Parse parses one config file's text; file names it in errors.
func Parse(file string, data []byte) (*Config, error) {
	l := &lexer{file: file, s: string(data), line: 1}
	c := &Config{File: file}
	for {
		l.skipSpace(true)
		if l.eof() {
			return c, nil
		}
		line := l.line
		key := l.ident()
		if key == "" {
			return nil, l.errf("expected a setting name, found %q", l.peekText())
		}
		l.skipSpace(false)
		if l.eof() || l.s[l.i] != '=' {
			return nil, l.errf("expected \"=\" after %q", key)
		}
		l.i++
		v, err := l.value(0)
		if err != nil {
			return nil, err
		}
		l.skipSpace(false)
		if !l.eof() {
			switch l.s[l.i] {
			case '\n', '#', ';':
				if l.s[l.i] == ';' {
					l.i++
				}
			default:
				return nil, l.errf("unexpected %q after value of %q", l.peekText(), key)
			}
		}
		c.Settings = append(c.Settings, Setting{Key: key, Value: v, Line: line})
	}
}

type lexer struct {
	file string
	s    string
	i    int
	line int
}

func (l *lexer) eof() bool { return l.i >= len(l.s) }

func (l *lexer) errf(format string, a ...any) error {
	return &SyntaxError{l.file, l.line, fmt.Sprintf(format, a...)}
}

func (l *lexer) peekText() string {
	end := l.i + 10
	if end > len(l.s) {
		end = len(l.s)
	}
	if t, _, ok := strings.Cut(l.s[l.i:end], "\n"); ok {
		return t
	}
	return l.s[l.i:end]
}

// skipSpace skips blanks and comments; newlines too when nl is set (between settings or inside lists).
func (l *lexer) skipSpace(nl bool) {
	for !l.eof() {
		c := l.s[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			l.i++
		case c == '\\' && l.i+1 < len(l.s) && l.s[l.i+1] == '\n':
			l.i += 2 // line continuation
			l.line++
		case c == '\n' && nl:
			l.i++
			l.line++
		case c == '#' && nl:
			for !l.eof() && l.s[l.i] != '\n' {
				l.i++
			}
		default:
			return
		}
	}
}

func (l *lexer) ident() string {
	start := l.i
	for !l.eof() {
		c := l.s[l.i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || l.i > start && (c >= '0' && c <= '9') {
			l.i++
			continue
		}
		break
	}
	return l.s[start:l.i]
}

const maxListDepth = 32

func (l *lexer) value(depth int) (Value, error) {
	l.skipSpace(depth > 0)
	if l.eof() {
		return Value{}, l.errf("missing value")
	}
	c := l.s[l.i]
	switch {
	case c == '\'' || c == '"':
		return l.str()
	case c == '[' || c == '(':
		if depth >= maxListDepth {
			return Value{}, l.errf("lists nested deeper than %d", maxListDepth)
		}
		closing := byte(']')
		if c == '(' {
			closing = ')'
		}
		l.i++
		opened := l.line
		notClosed := func() error {
			return &SyntaxError{l.file, opened, fmt.Sprintf("list opened here is not closed with %q", string(closing))}
		}
		v := Value{Kind: List}
		for {
			l.skipSpace(true)
			if l.eof() {
				return Value{}, notClosed()
			}
			if l.s[l.i] == closing {
				l.i++
				return v, nil
			}
			e, err := l.value(depth + 1)
			if err != nil {
				return Value{}, err
			}
			v.List = append(v.List, e)
			l.skipSpace(true)
			if l.eof() {
				return Value{}, notClosed()
			}
			if l.s[l.i] == ',' {
				l.i++
				continue
			}
			if l.s[l.i] != closing {
				return Value{}, l.errf("expected \",\" or %q in list, found %q", string(closing), l.peekText())
			}
		}
	case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9':
		start := l.i
		l.i++
		for !l.eof() && strings.IndexByte("0123456789.xXabcdefABCDEF_", l.s[l.i]) >= 0 {
			l.i++
		}
		raw := l.s[start:l.i]
		if n, err := strconv.ParseInt(raw, 0, 64); err == nil {
			return Value{Kind: Number, Num: float64(n), Raw: raw}, nil
		}
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return Value{}, l.errf("bad number %q", raw)
		}
		return Value{Kind: Number, Num: f, Raw: raw}, nil
	default:
		// Python literals that xl accepts as values.
		id := l.ident()
		switch id {
		case "True":
			return Value{Kind: Number, Num: 1, Raw: id}, nil
		case "False", "None":
			return Value{Kind: Number, Num: 0, Raw: id}, nil
		}
		if id == "" {
			return Value{}, l.errf("unexpected %q where a value was expected", l.peekText())
		}
		return Value{}, l.errf("unquoted word %q as a value (strings need quotes)", id)
	}
}

func (l *lexer) str() (Value, error) {
	q := l.s[l.i]
	triple := strings.HasPrefix(l.s[l.i:], strings.Repeat(string(q), 3))
	if triple {
		l.i += 3
		end := strings.Index(l.s[l.i:], strings.Repeat(string(q), 3))
		if end < 0 {
			return Value{}, l.errf("unterminated triple-quoted string")
		}
		v := l.s[l.i : l.i+end]
		l.line += strings.Count(v, "\n")
		l.i += end + 3
		return Value{Kind: String, Str: v}, nil
	}
	l.i++
	var b strings.Builder
	for !l.eof() {
		c := l.s[l.i]
		if c == '\n' {
			return Value{}, l.errf("unterminated string")
		}
		if c == '\\' && l.i+1 < len(l.s) {
			n := l.s[l.i+1]
			switch n {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\n':
				l.line++
			default:
				b.WriteByte(n)
			}
			l.i += 2
			continue
		}
		if c == q {
			l.i++
			return Value{Kind: String, Str: b.String()}, nil
		}
		b.WriteByte(c)
		l.i++
	}
	return Value{}, l.errf("unterminated string")
}
