package snapshot

import (
	"os"
	"testing"
	"time"
)

func osWriteFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }

func TestCronNext(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct{ expr, from, want string }{
		{"* * * * *", "2026-01-01 10:00", "2026-01-01 10:01"},
		{"*/15 * * * *", "2026-01-01 10:07", "2026-01-01 10:15"},
		{"*/15 * * * *", "2026-01-01 10:45", "2026-01-01 11:00"},
		{"0 3 * * *", "2026-01-01 03:00", "2026-01-02 03:00"},
		{"30 2 1 * *", "2026-01-15 00:00", "2026-02-01 02:30"},
		{"0 0 * * mon", "2026-11-22 12:00", "2026-11-23 00:00"}, // 22nd is a Sunday
		{"0 0 * * 7", "2026-11-21 12:00", "2026-11-22 00:00"},   // 7 is Sunday
		{"0 0 * * 1-5", "2026-11-21 12:00", "2026-11-23 00:00"}, // Sat -> Mon
		{"0 12 1,15 * *", "2026-01-02 00:00", "2026-01-15 12:00"},
		{"0 0 29 feb *", "2026-03-01 00:00", "2028-02-29 00:00"},
		{"0 0 13 * fri", "2026-02-01 00:00", "2026-02-06 00:00"}, // dom OR dow: first Friday
		{"5-10/5 1 * * *", "2026-01-01 01:06", "2026-01-01 01:10"},
		{"@hourly", "2026-01-01 10:30", "2026-01-01 11:00"},
		{"@daily", "2026-12-31 23:59", "2027-01-01 00:00"},
		{"@weekly", "2026-11-22 00:00", "2026-11-29 00:00"},
		{"@monthly", "2026-01-31 00:00", "2026-02-01 00:00"},
		{"@yearly", "2026-06-01 00:00", "2027-01-01 00:00"},
		{"0 0 1 jan-mar/2 *", "2026-01-01 00:00", "2026-03-01 00:00"},
	}
	for _, c := range cases {
		cr, err := ParseCron(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		if got := cr.Next(at(c.from)); !got.Equal(at(c.want)) {
			t.Errorf("%q after %s: got %s, want %s", c.expr, c.from, got.Format("2006-01-02 15:04"), c.want)
		}
	}
	if cr, _ := ParseCron("0 0 30 2 *"); !cr.Next(at("2026-01-01 00:00")).IsZero() {
		t.Error("Feb 30 fired")
	}
}

func TestCronRejects(t *testing.T) {
	for _, expr := range []string{"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *",
		"* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "x * * * *", "1,,2 * * * *", "@often"} {
		if _, err := ParseCron(expr); err == nil {
			t.Errorf("%q accepted", expr)
		}
	}
}
