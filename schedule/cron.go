package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// InputError is bad input from a caller: Field names what is wrong (a request field, or "body"), Problem
// says how. The API answers it with 422.
type InputError struct {
	Field   string
	Problem string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Problem }

func inputErr(field, format string, a ...any) *InputError {
	return &InputError{Field: field, Problem: fmt.Sprintf(format, a...)}
}

// Limits on a cron spec, far above any real one: robfig/cron's parser was never written for hostile
// input (it panics on some), so it only sees short, printable specs.
const (
	maxSpec  = 256
	maxField = 64
)

// shorthands varde adds to robfig/cron's descriptors; @quarterly is the audits' usual rhythm.
var shorthands = map[string]string{
	"@quarterly": "0 0 1 1,4,7,10 *",
}

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Spec is a parsed schedule: a five-field cron expression or a shorthand, read in a time zone.
type Spec struct {
	// Source is the spec as given, trimmed.
	Source string
	// TimeZone is the zone named by CRON_TZ= (or TZ=), UTC when none is.
	TimeZone string
	loc      *time.Location
	sched    cron.Schedule
}

// ParseSpec parses a cron spec: five fields (minute hour day-of-month month day-of-week), or a
// shorthand (@yearly, @annually, @quarterly, @monthly, @weekly, @daily, @midnight, @hourly), optionally
// led by CRON_TZ=Zone (an IANA zone such as Europe/Oslo; default UTC). @every is refused: audits run on
// the calendar. Errors are *InputError for field "spec". It never panics.
func ParseSpec(spec string) (sp *Spec, err error) {
	bad := func(format string, a ...any) (*Spec, error) { return nil, inputErr("spec", format, a...) }
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return bad("empty: want a cron expression such as \"CRON_TZ=Europe/Oslo 0 6 1 1,4,7,10 *\" or @quarterly")
	}
	if len(spec) > maxSpec {
		return bad("%d bytes is over the limit of %d", len(spec), maxSpec)
	}
	for _, r := range spec {
		if r < ' ' || r > '~' {
			return bad("%q: only printable ASCII is allowed", spec)
		}
	}
	fields := strings.Fields(spec)
	zone := "UTC"
	if k, v, ok := strings.Cut(fields[0], "="); ok {
		if k != "CRON_TZ" && k != "TZ" {
			return bad("%q: want CRON_TZ=Zone before the expression", fields[0])
		}
		if v == "" || v == "Local" || len(v) > maxField {
			return bad("time zone %q: want an IANA zone such as Europe/Oslo", v)
		}
		zone, fields = v, fields[1:]
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return bad("time zone %q: not a known IANA time zone", zone)
	}
	if len(fields) == 0 {
		return bad("%q: a time zone but no expression", spec)
	}
	expr := strings.Join(fields, " ")
	if strings.HasPrefix(expr, "@") {
		if len(fields) != 1 {
			return bad("%q: a shorthand stands alone", expr)
		}
		if strings.HasPrefix(expr, "@every") {
			return bad("%q: @every is not accepted; audits run on the calendar (use a cron expression)", expr)
		}
		if full, ok := shorthands[expr]; ok {
			expr = full
		}
	} else {
		if len(fields) != 5 {
			return bad("%q: want five fields (minute hour day-of-month month day-of-week), got %d", expr, len(fields))
		}
		for _, f := range fields {
			if len(f) > maxField {
				return bad("field %.20q...: %d bytes is over the limit of %d", f, len(f), maxField)
			}
		}
	}
	var sched cron.Schedule
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = inputErr("spec", "%q: not a valid cron expression", expr)
			}
		}()
		sched, err = parser.Parse("CRON_TZ=" + zone + " " + expr)
	}()
	if err != nil {
		if _, ok := err.(*InputError); ok {
			return nil, err
		}
		return bad("%q: %v", expr, err)
	}
	sp = &Spec{Source: spec, TimeZone: zone, loc: loc, sched: sched}
	// A spec that names no real time (30 February) would leave the schedule with nothing to plan.
	if sp.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return bad("%q never fires", expr)
	}
	return sp, nil
}

// Next returns the first planned time strictly after t, in UTC, or the zero time when there is none in
// the next five years.
func (s *Spec) Next(t time.Time) (next time.Time) {
	defer func() {
		if recover() != nil {
			next = time.Time{}
		}
	}()
	n := s.sched.Next(t)
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// NextRuns returns the next n planned times of spec after after, in UTC (the console shows four).
func NextRuns(spec string, after time.Time, n int) ([]time.Time, error) {
	sp, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	if n < 0 || n > 1000 {
		return nil, inputErr("n", "%d: want 0 to 1000", n)
	}
	out := make([]time.Time, 0, n)
	t := after
	for range n {
		t = sp.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out, nil
}
