// Package errdefs names the kinds of failure aptsnap's operations report,
// whichever package fails, so that every front end tells them apart with
// errors.Is: the API server answers each with its HTTP status, the API
// client wraps a status back into the same error, and the CLI prints the
// message. Not found is catalog.ErrNotFound.
package errdefs

import "errors"

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
