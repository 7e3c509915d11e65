package rules

import (
	"errors"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
)

func TestCreated(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func(t time.Time) func() time.Time { return func() time.Time { return t } }
	for _, tc := range []struct {
		s    catalog.NewSnapshot
		want time.Time
	}{
		{catalog.NewSnapshot{Created: at}, at},
		{catalog.NewSnapshot{Created: at, Clock: clock(at.Add(-time.Minute))}, at},
		{catalog.NewSnapshot{Created: at, Clock: clock(at)}, at.Add(time.Second)},
		{catalog.NewSnapshot{Created: at, Clock: clock(at.Add(1500 * time.Millisecond))}, at.Add(2 * time.Second)},
	} {
		if got := Created(tc.s); !got.Equal(tc.want) {
			t.Errorf("Created(%v, clock %v) = %v, want %v", tc.s.Created, tc.s.Clock != nil, got, tc.want)
		}
	}
}

func TestChecks(t *testing.T) {
	if err := CheckToken("ci", catalog.RoleAdmin); err != nil {
		t.Error(err)
	}
	if CheckToken(" ", catalog.RoleAdmin) == nil || CheckToken("ci", "root") == nil {
		t.Error("a token without a name or of an unknown role passed")
	}
	if err := CheckKV("k", make([]byte, catalog.MaxKV)); err != nil {
		t.Error(err)
	}
	if err := CheckKV("k", make([]byte, catalog.MaxKV+1)); !errors.Is(err, errdefs.ErrTooLarge) {
		t.Errorf("a value too large: %v", err)
	}
}
