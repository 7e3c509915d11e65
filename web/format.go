package web

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// took renders how long something took, readable at any scale: "0.3 ms",
// "36 ms", "0.4 s", "12 s", "3m 5s", then as human does ("2h 5m").
func took(d time.Duration) string {
	switch r := d.Round(100 * time.Microsecond); {
	case d <= 0:
		return "0 ms"
	case r == 0:
		return "< 0.1 ms"
	case r < time.Millisecond:
		return strconv.FormatFloat(float64(r)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond)
	}
	if r := d.Round(100 * time.Millisecond); r < 10*time.Second {
		return strconv.FormatFloat(r.Seconds(), 'f', 1, 64) + " s"
	}
	r := d.Round(time.Second)
	switch {
	case r < time.Minute:
		return fmt.Sprintf("%d s", r/time.Second)
	case r < time.Hour:
		return fmt.Sprintf("%dm %ds", r/time.Minute, r%time.Minute/time.Second)
	}
	return human(r)
}

// size renders a byte count in binary units: "512 B", "3.4 KiB", "120 MiB".
func size(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		v, unit = v/1024, u
		if v < 1024 {
			break
		}
	}
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " " + unit
}

// A failed pulse is recorded with its one-line error; the kind of failure
// is read back from it, with the same names the mirror gives its failures
// in logs and metrics (see mirror.Reason), from the messages of the
// errors it tells apart, in the same order.
var reasons = []struct {
	reason string
	re     *regexp.Regexp
}{
	{"signature", regexp.MustCompile(`(?i)bad signature|signature by unknown key|unknown key|malformed signed data|weak digest algorithm|key expired|key revoked|signature expired`)},
	{"checksum", regexp.MustCompile(`(?i)does not match its expected digest|larger than allowed`)},
	{"date", regexp.MustCompile(`(?i)upstream Release dates`)},
	{"missing", regexp.MustCompile(`(?i)not found upstream`)},
	{"busy", regexp.MustCompile(`(?i)\bbusy: |lock: busy`)},
	{"interrupted", regexp.MustCompile(`(?i)\binterrupted \(`)},
	{"storage", regexp.MustCompile(`(?i)no space left on device|disk quota exceeded|read-only file system|input/output error`)},
	{"stalled", regexp.MustCompile(`(?i)upstream stalled`)},
	{"other", regexp.MustCompile(`(?i)refusing a redirect`)},
	{"unreachable", regexp.MustCompile(`(?i)connection refused|connection reset|no such host|network is unreachable|no route to host|i/o timeout|` +
		`timeout awaiting|server misbehaving|\btls: |\bx509: |\bEOF\b|\bGET \S+: [1-5][0-9][0-9]\b`)},
}

// failureReason names the kind of a failed pulse from its error message:
// signature, checksum, date, missing, busy, interrupted, storage,
// stalled, unreachable or other.
func failureReason(msg string) string {
	for _, r := range reasons {
		if r.re.MatchString(msg) {
			return r.reason
		}
	}
	return "other"
}
