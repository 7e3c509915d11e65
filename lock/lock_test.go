package lock_test

import (
	"testing"

	"github.com/aptsnap/aptsnap/lock"
	"github.com/aptsnap/aptsnap/lock/locktest"
)

func TestFlockConformance(t *testing.T) {
	locktest.Run(t, func(t *testing.T) (a, b lock.Locker) {
		dir := t.TempDir()
		return lock.NewFlock(dir), lock.NewFlock(dir)
	})
}
