package app

import (
	"context"
	"sync"
	"time"
)

// Schedule pulses every archive pulses_per_day times a day, at slots
// aligned on UTC midnight, until ctx ends. An archive whose newest
// snapshot is older than one interval is pulsed at once.
func (a *App) Schedule(ctx context.Context) {
	var wg sync.WaitGroup
	type scheduled struct {
		name  string
		every time.Duration
	}
	var all []scheduled
	for i := range a.Config.Archives {
		all = append(all, scheduled{a.Config.Archives[i].Name, a.Config.Archives[i].PulseInterval()})
	}
	for i := range a.Config.Customs {
		all = append(all, scheduled{a.Config.Customs[i].Name, a.Config.Customs[i].PulseInterval()})
	}
	if len(a.Config.Customs) > 0 {
		// Custom archive changes waiting for their serial (see custom.Archives.Publish).
		wg.Go(func() {
			every(ctx, time.Minute, func() {
				if err := a.customs().PublishDue(ctx); err != nil {
					a.Log.Error("publishing custom archive changes", "err", err)
				}
				// Stable updates' phasing (see stable.Engine.PhaseDue).
				if err := a.updates().PhaseDue(ctx); err != nil {
					a.Log.Error("phasing stable updates", "err", err)
				}
			})
		})
	}
	for _, arc := range all {
		every := arc.every
		if every == 0 {
			continue
		}
		wg.Go(func() {
			next := a.Now()
			if snap, err := a.Catalog.Latest(ctx, arc.name); err == nil && a.Now().Sub(snap.Created) < every {
				next = nextSlot(a.Now(), every)
			}
			for {
				t := time.NewTimer(max(time.Until(next), 0))
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				a.Pulse(ctx, arc.name) // logged and recorded
				next = nextSlot(a.Now(), every)
			}
		})
	}
	wg.Wait()
}

// nextSlot is the first instant after now that is a whole number of
// intervals past UTC midnight.
func nextSlot(now time.Time, every time.Duration) time.Time {
	now = now.UTC()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	n := now.Sub(midnight)/every + 1
	return midnight.Add(n * every)
}

// collectEvery runs a garbage collection every interval until ctx ends.
func (a *App) collectEvery(ctx context.Context, d time.Duration) {
	every(ctx, d, func() {
		if _, err := a.GC(ctx, false); err != nil {
			a.Log.Error("scheduled gc", "err", err)
		}
	})
}

// every runs f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
