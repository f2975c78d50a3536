package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/varde/varde/storage"
)

func TestParseSpec(t *testing.T) {
	t.Parallel()
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	after := time.Date(2026, 10, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		spec string
		zone string
		want time.Time
	}{
		// The first day of each quarter at 06:00 in Oslo: 05:00 UTC in winter.
		{"CRON_TZ=Europe/Oslo 0 6 1 1,4,7,10 *", "Europe/Oslo", time.Date(2027, 1, 1, 6, 0, 0, 0, oslo)},
		{"@quarterly", "UTC", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"CRON_TZ=Europe/Oslo @quarterly", "Europe/Oslo", time.Date(2027, 1, 1, 0, 0, 0, 0, oslo)},
		{"TZ=America/New_York 30 9 * * 1-5", "America/New_York", time.Date(2026, 10, 2, 13, 30, 0, 0, time.UTC)},
		{"  @daily ", "UTC", time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC)},
		{"0 0 29 2 *", "UTC", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
	} {
		sp, err := ParseSpec(tc.spec)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if got := sp.Next(after); !got.Equal(tc.want) || got.Location() != time.UTC || sp.TimeZone != tc.zone {
			t.Errorf("%q: next %v (zone %s), want %v (zone %s)", tc.spec, got, sp.TimeZone, tc.want.UTC(), tc.zone)
		}
	}
	for _, tc := range []struct{ spec, want string }{
		{"", "empty"},
		{"TZ=UTC", "a time zone but no expression"}, // robfig/cron panics on this one
		{"CRON_TZ=", "time zone"},
		{"CRON_TZ=Mars/Olympus 0 6 * * *", "not a known IANA time zone"},
		{"CRON_TZ=Local 0 6 * * *", "time zone \"Local\""},
		{"CRON_TZ=../../etc/passwd 0 6 * * *", "time zone"},
		{"X=1 0 6 * * *", "want CRON_TZ=Zone"},
		{"0 6 * *", "five fields"},
		{"0 0 6 * * *", "five fields"},
		{"@every 1h", "@every is not accepted"},
		{"@daily extra", "a shorthand stands alone"},
		{"@reboot", "@reboot"},
		{"0 0 30 2 *", "never fires"},
		{"61 * * * *", "61"},
		{"*/0 * * * *", "*/0"},
		{"0 6 * * *\x00", "printable ASCII"},
		{strings.Repeat("1,", 40) + "1 * * * *", "over the limit"},
		{strings.Repeat("* ", 200), "over the limit"},
	} {
		_, err := ParseSpec(tc.spec)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != "spec" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an input error on spec containing %q", tc.spec, err, tc.want)
		}
	}
}

// Across the autumn DST change the 06:00 Oslo run stays at 06:00 local time.
func TestNextRunsAcrossDST(t *testing.T) {
	t.Parallel()
	got, err := NextRuns("CRON_TZ=Europe/Oslo 0 6 * * *", time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC), 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{
		time.Date(2026, 10, 25, 5, 0, 0, 0, time.UTC), // CET from 03:00 that morning
		time.Date(2026, 10, 26, 5, 0, 0, 0, time.UTC),
		time.Date(2026, 10, 27, 5, 0, 0, 0, time.UTC),
	}
	if len(got) != 3 || !got[0].Equal(want[0]) || !got[1].Equal(want[1]) || !got[2].Equal(want[2]) {
		t.Errorf("next runs %v, want %v", got, want)
	}
	if _, err := NextRuns("@daily", time.Time{}, 5000); err == nil {
		t.Error("5000 runs asked for and given")
	}
}

func TestPlanMissedRuns(t *testing.T) {
	t.Parallel()
	planned := time.Date(2026, 10, 1, 6, 0, 0, 0, time.UTC)
	sc := storageSchedule(7, "@hourly", planned)
	// On time: not late, nothing missed.
	d, err := plan(sc, planned.Add(3*time.Second), 5*time.Minute)
	if err != nil || d.Run.Late || d.Run.Missed != 0 || !d.Next.Equal(planned.Add(time.Hour)) || !d.Run.PlannedAt.Equal(planned) {
		t.Errorf("on time: %+v %v", d, err)
	}
	// Down from 05:30 to 09:20: one run, for 06:00, late, standing in for 07:00, 08:00 and 09:00.
	d, err = plan(sc, planned.Add(3*time.Hour+20*time.Minute), 5*time.Minute)
	if err != nil || !d.Run.Late || d.Run.Missed != 3 || !d.Next.Equal(planned.Add(4*time.Hour)) || !d.Run.PlannedAt.Equal(planned) {
		t.Errorf("after downtime: %+v %v", d, err)
	}
}

// FuzzSpec: no spec makes the parser panic or hang, and an accepted spec plans forward in time.
func FuzzSpec(f *testing.F) {
	for _, s := range []string{"CRON_TZ=Europe/Oslo 0 6 1 1,4,7,10 *", "@quarterly", "TZ=UTC", "*/0 * * * *",
		"0-59/7 1-5 L W ?", "TZ= 1", "CRON_TZ=UTC @every 1s", "1-0 * * * *", "0 0 31 4 *", "59 23 31 12 6"} {
		f.Add(s)
	}
	after := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		sp, err := ParseSpec(spec)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("%q: error %v is not an InputError", spec, err)
			}
			return
		}
		if n := sp.Next(after); !n.IsZero() && !n.After(after) {
			t.Fatalf("%q: next %v is not after %v", spec, n, after)
		}
	})
}

func storageSchedule(id int64, spec string, next time.Time) storage.Schedule {
	return storage.Schedule{ID: id, ConfigName: "c", Spec: spec, TimeZone: "UTC", Enabled: true, NextRunAt: next}
}

func TestPreviousQuarter(t *testing.T) {
	t.Parallel()
	oslo, _ := time.LoadLocation("Europe/Oslo")
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2027, 1, 1, 0, 0, 0, 0, oslo), "2026-Q4"},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, oslo).UTC(), "2026-Q3"}, // still 31 December in UTC
		{time.Date(2026, 10, 1, 6, 0, 0, 0, time.UTC), "2026-Q3"},
		{time.Date(2026, 6, 30, 23, 59, 0, 0, time.UTC), "2026-Q1"},
	} {
		if got := previousQuarter(tc.t); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.t, got, tc.want)
		}
	}
}
