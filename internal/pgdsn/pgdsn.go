// Package pgdsn keeps a PostgreSQL DSN's password out of errors, for the
// packages that connect to PostgreSQL (catalog/postgres, lock/pglock).
package pgdsn

import (
	"net/url"
	"strings"
)

// PasswordOf finds a password in a DSN pgx could not parse, to scrub it.
func PasswordOf(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Query().Get("password") != "" {
		return u.Query().Get("password")
	}
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				return pw
			}
		}
	}
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, "password="); ok {
			return strings.Trim(v, "'")
		}
	}
	return ""
}

// scrubbed is an error whose message has the password replaced.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// Scrub returns err with every occurrence of password in its message
// replaced (err itself, when the password is empty or absent).
func Scrub(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), password, "xxxxx"), err: err}
}
