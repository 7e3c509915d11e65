// Package errdefs names the kinds of failure aptsnap's operations report,
// whichever package fails, so that every front end tells them apart with
// errors.Is: the API server answers each with its HTTP status, the API
// client wraps a status back into the same error, and the CLI prints the
// message. Not found is catalog.ErrNotFound.
package errdefs

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid marks a request that cannot be right: bad arguments, a
	// refused upload (400).
	ErrInvalid = errors.New("invalid argument")
	// ErrExists marks a conflict with what is there: a name taken, another
	// content under the same name and version, a GC already running (409).
	ErrExists = errors.New("already exists")
	// ErrTooLarge marks a request body over its limit (413).
	ErrTooLarge = errors.New("request too large")
)

// Errorf formats an error of the given kind (ErrInvalid, ErrExists,
// catalog.ErrNotFound...) whose message is the formatted text alone: the
// kind is for errors.Is and the front ends' statuses, the words for the
// user, who needs no "not found:" in front of "no tag 6.1". A %w in
// format wraps as fmt.Errorf does.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }
