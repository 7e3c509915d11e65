package app

import (
	"testing"
	"time"
)

func TestNextSlot(t *testing.T) {
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		now   time.Time
		every time.Duration
		want  time.Time
	}{
		{day, 6 * time.Hour, day.Add(6 * time.Hour)},
		{day.Add(5*time.Hour + 59*time.Minute), 6 * time.Hour, day.Add(6 * time.Hour)},
		{day.Add(6 * time.Hour), 6 * time.Hour, day.Add(12 * time.Hour)},
		{day.Add(23 * time.Hour), 6 * time.Hour, day.Add(24 * time.Hour)},
		{day.Add(90 * time.Minute), time.Hour, day.Add(2 * time.Hour)},
		{day.Add(3 * time.Hour).In(time.FixedZone("X", 5*3600)), 24 * time.Hour, day.Add(24 * time.Hour)},
	} {
		if got := nextSlot(tt.now, tt.every); !got.Equal(tt.want) {
			t.Errorf("nextSlot(%s, %s) = %s, want %s", tt.now, tt.every, got, tt.want)
		}
	}
}
