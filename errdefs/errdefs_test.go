package errdefs

import (
	"errors"
	"io/fs"
	"testing"
)

func TestErrorf(t *testing.T) {
	err := Errorf(ErrInvalid, "bump: days must be between 1 and %d, not %d: %w", 3650, 0, fs.ErrInvalid)
	if err.Error() != "bump: days must be between 1 and 3650, not 0: invalid argument" {
		t.Errorf("message %q", err)
	}
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, fs.ErrInvalid) || errors.Is(err, ErrExists) {
		t.Errorf("kinds of %v wrong", err)
	}
}
