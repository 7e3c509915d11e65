package pgdsn

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestPasswordOf(t *testing.T) {
	const pw = "s3cr3t-pa55"
	for _, dsn := range []string{
		"postgres://aptsnap:" + pw + "@127.0.0.1:1/aptsnap?sslmode=bogus",
		"postgres://aptsnap:" + pw + "@[::1:5432/aptsnap",
		"postgres://aptsnap@127.0.0.1:1/aptsnap?password=" + pw + "&sslmode=bogus",
		"host=127.0.0.1 port=1 user=aptsnap password=" + pw + " dbname=aptsnap",
		"host=127.0.0.1 port=1 user=aptsnap password='" + pw + "' dbname=aptsnap",
	} {
		if got := PasswordOf(dsn); got != pw {
			t.Errorf("PasswordOf(%q) = %q", dsn, got)
		}
	}
	if got := PasswordOf("postgres://aptsnap@127.0.0.1/aptsnap"); got != "" {
		t.Errorf("PasswordOf of a DSN without one = %q", got)
	}
}

func TestScrub(t *testing.T) {
	const pw = "s3cr3t-pa55"
	inner := errors.Join(fs.ErrNotExist, errors.New("auth as x:"+pw+" failed"))
	err := Scrub(inner, pw)
	if strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("Scrub = %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("the scrubbed error does not unwrap to what it scrubbed")
	}
	if Scrub(inner, "") != inner || Scrub(inner, "absent") != inner || Scrub(nil, pw) != nil {
		t.Error("Scrub changed an error without the password in it")
	}
}
