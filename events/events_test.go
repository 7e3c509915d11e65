package events

import (
	"context"
	"slices"
	"testing"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
)

func TestBus(t *testing.T) {
	ctx := context.Background()
	var nilBus *Bus
	nilBus.Created(ctx, catalog.Snapshot{}) // tells nobody, does not panic
	nilBus.Changed()
	nilBus.Collected(ctx, nil)
	nilBus.Pulsed(Pulse{})
	nilBus.GCDone(GC{})

	b := &Bus{}
	var got []string
	b.OnChanged(func() { got = append(got, "changed") })
	b.OnCreated(func(_ context.Context, s catalog.Snapshot) { got = append(got, "created "+s.Serial) })
	b.OnCreated(func(_ context.Context, s catalog.Snapshot) { got = append(got, "created again "+s.Serial) })
	b.OnCollected(func(_ context.Context, live func(blob.Digest) bool) {
		got = append(got, "collected "+map[bool]string{true: "live", false: "dead"}[live(blob.Digest{})])
	})
	b.OnPulse(func(p Pulse) { got = append(got, "pulse "+p.Archive+" "+p.Reason) })
	b.OnGC(func(g GC) { got = append(got, "gc") })

	b.Created(ctx, catalog.Snapshot{Serial: "2026112301"})
	b.Collected(ctx, func(blob.Digest) bool { return false })
	b.Pulsed(Pulse{Archive: "debian", Reason: "signature"})
	b.GCDone(GC{})
	b.Changed()
	want := []string{"changed", "created 2026112301", "created again 2026112301", "changed", "collected dead",
		"pulse debian signature", "gc", "changed"}
	if !slices.Equal(got, want) {
		t.Errorf("events = %q\nwant %q", got, want)
	}
}
