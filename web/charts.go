package web

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
)

// The pictures are inline SVG drawn on the server, no script: horizontal
// positions in percent of the picture's width, so that a picture fills a
// phone or a desktop alike, vertical ones and text in pixels, so that
// text keeps its size. Markers that need a shape (a tag's diamond, a
// bump's notch) are drawn in a nested svg placed at a percentage.

// pct renders a percentage for an SVG coordinate, kept inside 0–100.
func pct(f float64) string {
	if math.IsNaN(f) {
		f = 0
	}
	return strconv.FormatFloat(min(max(f, 0), 100), 'f', 2, 64) + "%"
}

// soon is how close to its Valid-Until a snapshot is drawn as about to expire.
const soon = 48 * time.Hour

// timelineMax bounds the snapshots the timeline draws (the newest), and
// timelineSpan how far from now its axis reaches either way.
const (
	timelineMax  = 60
	timelineSpan = 45 * 24 * time.Hour
)

// timeline is an archive's snapshots as bars from creation to
// Valid-Until on a time axis, newest on top, tags above them.
type timeline struct {
	Archive string
	Height  int
	AxisY   int // bottom of the rows, top of the tick labels
	Now     float64
	Ticks   []tick
	Tags    []tlTag
	Bars    []tlBar
	More    int // older snapshots left out
}

type tick struct {
	X      float64
	Label  string
	Anchor string // labels near an edge do not reach past it
}

type tlBar struct {
	Serial string
	Y      int // top of the bar
	X, W   float64
	Class  string // live, soon, expired (the next GC collects it), stale
	Bumped bool
	BumpX  float64
	LX     float64 // label position
	Anchor string
	DX     int
	Inside bool
	Title  string
}

type tlTag struct {
	Tag   string
	Y     int
	X     float64
	Title string
}

const (
	rowH = 20
	barH = 12
)

// newTimeline lays out snaps (newest first) and tags at now.
func newTimeline(archive string, snaps, tags []snapRow, now time.Time) *timeline {
	if len(snaps) == 0 && len(tags) == 0 {
		return nil
	}
	tl := &timeline{Archive: archive}
	if len(snaps) > timelineMax {
		tl.More = len(snaps) - timelineMax
		snaps = snaps[:timelineMax]
	}
	// The axis spans the snapshots' lives and now, at most timelineSpan
	// either side of now (a snapshot bumped for a year, one made long ago
	// and kept since, reach the edge); tags made before it sit at its
	// left edge.
	lo, hi := now, now
	for _, s := range snaps {
		lo, hi = minTime(lo, s.Created), maxTime(hi, s.ValidUntil)
	}
	if len(snaps) == 0 {
		for _, t := range tags {
			lo = minTime(lo, t.Created)
		}
	}
	lo, hi = maxTime(lo, now.Add(-timelineSpan)), minTime(hi, now.Add(timelineSpan))
	if hi.Sub(lo) < 24*time.Hour {
		hi = lo.Add(24 * time.Hour)
	}
	pad := hi.Sub(lo) / 40
	lo, hi = lo.Add(-pad), hi.Add(pad)
	x := func(t time.Time) float64 { return min(max(float64(t.Sub(lo))/float64(hi.Sub(lo))*100, 0), 100) }
	tl.Now = x(now)
	tl.Ticks = ticks(lo, hi, x)
	y := 4
	for _, t := range tags {
		tl.Tags = append(tl.Tags, tlTag{Tag: t.Tag, Y: y, X: x(t.Created),
			Title: fmt.Sprintf("tag %s: made %s, never expires", t.Tag, t.Created.UTC().Format("2006-01-02 15:04 UTC"))})
		y += rowH
	}
	for _, s := range snaps {
		b := tlBar{Serial: s.Serial, Y: y + (rowH-barH)/2, X: x(s.Created), Class: s.State()}
		b.W = max(x(s.ValidUntil)-b.X, 0.3)
		b.Title = fmt.Sprintf("%s: made %s, valid until %s (%s)", s.Serial, s.Created.UTC().Format("2006-01-02 15:04 UTC"),
			s.ValidUntil.UTC().Format("2006-01-02 15:04 UTC"), s.Expires)
		if !s.Bumped.IsZero() {
			b.Bumped = true
			b.BumpX = x(maxTime(minTime(s.Bumped, s.ValidUntil), s.Created))
			b.Title += ", bumped " + s.Bumped.UTC().Format("2006-01-02 15:04 UTC")
		}
		if s.Collect {
			b.Title += "; the next garbage collection deletes it"
		}
		// The label goes where there is room: after the bar, before it,
		// or inside a bar that spans most of the width.
		switch left, right := b.X, 100-(b.X+b.W); {
		case right >= left && right >= 25:
			b.LX, b.Anchor, b.DX = b.X+b.W, "start", 4
		case left >= 25:
			b.LX, b.Anchor, b.DX = b.X, "end", -4
		default:
			b.LX, b.Anchor, b.DX, b.Inside = b.X, "start", 4, true
		}
		tl.Bars = append(tl.Bars, b)
		y += rowH
	}
	tl.AxisY = y + 2
	tl.Height = tl.AxisY + 30
	return tl
}

// ticks are the labelled times of an axis from lo to hi: at most 7, on
// whole hours or UTC days.
func ticks(lo, hi time.Time, x func(time.Time) float64) []tick {
	span := hi.Sub(lo)
	step := 365 * 24 * time.Hour
	for _, s := range []time.Duration{time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
		2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 30 * 24 * time.Hour, 91 * 24 * time.Hour} {
		if span/s <= 6 {
			step = s
			break
		}
	}
	layout := "Jan 2"
	if step < 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	var out []tick
	for t := lo.Truncate(step).Add(step); t.Before(hi); t = t.Add(step) {
		tk := tick{X: x(t), Label: t.UTC().Format(layout), Anchor: "middle"}
		switch {
		case tk.X < 6:
			tk.Anchor = "start"
		case tk.X > 94:
			tk.Anchor = "end"
		}
		out = append(out, tk)
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// pulseMax bounds the pulses the pulse chart draws (the newest).
const pulseMax = 48

// pulseChart is an archive's last pulses, oldest left: how long each
// took above the line, what its snapshot added to the archive's storage
// below it.
type pulseChart struct {
	Height   int
	Base     int // the line between durations and bytes
	Bars     []pcBar
	MaxTook  string
	MaxBytes string
	First    time.Time
	Last     time.Time
}

type pcBar struct {
	X, W   float64
	Y, H   int // the duration bar
	BH     int // the bytes bar, down from Base
	Class  string
	Took   string
	Reason string
	Title  string
}

const (
	pulseTop   = 4
	pulseTookH = 64
	pulseBytes = 36
)

// newPulseChart draws pulses (newest first, as the catalog lists them);
// usage gives the bytes each successful pulse's snapshot added.
func newPulseChart(pulses []catalog.Pulse, usage map[string]catalog.Usage) *pulseChart {
	if len(pulses) == 0 {
		return nil
	}
	if len(pulses) > pulseMax {
		pulses = pulses[:pulseMax]
	}
	n := len(pulses)
	var maxTook time.Duration
	var maxBytes int64
	for _, p := range pulses {
		maxTook = max(maxTook, p.Finished.Sub(p.Started))
		if u, ok := usage[p.Serial]; ok && p.OK {
			maxBytes = max(maxBytes, u.NewBytes)
		}
	}
	pc := &pulseChart{Base: pulseTop + pulseTookH, MaxTook: took(maxTook), MaxBytes: size(maxBytes),
		First: pulses[n-1].Started, Last: pulses[0].Started}
	pc.Height = pc.Base + pulseBytes + 20
	w := 100 / float64(max(n, 12)) // a few pulses do not make fat bars
	for i := range n {
		p := pulses[n-1-i]
		d := p.Finished.Sub(p.Started)
		b := pcBar{X: float64(i) * w, W: w * 0.7, Class: "ok", Took: took(d)}
		b.H = max(int(math.Round(float64(d)/float64(max(maxTook, 1))*pulseTookH)), 2)
		b.Y = pc.Base - b.H
		when := p.Started.UTC().Format("2006-01-02 15:04 UTC")
		if p.OK {
			b.Title = fmt.Sprintf("%s: ok in %s, snapshot %s", when, b.Took, p.Serial)
			if u, ok := usage[p.Serial]; ok {
				b.BH = int(math.Round(float64(u.NewBytes) / float64(max(maxBytes, 1)) * pulseBytes))
				b.Title += fmt.Sprintf(", %s new in it", size(u.NewBytes))
			}
		} else {
			b.Class, b.Reason = "failed", failureReason(p.Error)
			b.Title = fmt.Sprintf("%s: failed (%s) after %s", when, b.Reason, b.Took)
		}
		pc.Bars = append(pc.Bars, b)
	}
	return pc
}

// storageChart is what an archive's snapshots hold in the store over its
// snapshot history, oldest left: each bar everything the snapshots up to
// it reference, its top part what that snapshot added, a tick at what
// the snapshot alone references; the snapshots the next garbage
// collection deletes are marked.
type storageChart struct {
	Height  int
	Base    int
	Bars    []scBar
	Max     string
	First   time.Time
	Last    time.Time
	Collect int
}

type scBar struct {
	Serial string
	X, W   float64
	Y, H   int // all held up to it
	NH     int // its new part, at the top
	OY     int // its own size
	Class  string
	Title  string
}

const (
	storageTop = 16
	storageH   = 110
)

// newStorageChart draws the snapshots (oldest first) with their usage.
func newStorageChart(snaps []snapRow, usage map[string]catalog.Usage) *storageChart {
	var held, top int64
	cum := make([]int64, len(snaps))
	for i, s := range snaps {
		held += usage[s.Serial].NewBytes
		cum[i] = held
		top = max(top, held, usage[s.Serial].Bytes)
	}
	if len(snaps) == 0 || top == 0 {
		return nil
	}
	sc := &storageChart{Base: storageTop + storageH, Max: size(top), First: snaps[0].Created, Last: snaps[len(snaps)-1].Created}
	sc.Height = sc.Base + 20
	scale := func(b int64) int { return int(math.Round(float64(b) / float64(top) * storageH)) }
	w := 100 / float64(max(len(snaps), 12))
	for i, s := range snaps {
		u := usage[s.Serial]
		b := scBar{Serial: s.Serial, X: float64(i) * w, W: w * 0.75, H: max(scale(cum[i]), 1), NH: scale(u.NewBytes), OY: sc.Base - scale(u.Bytes)}
		b.Y = sc.Base - b.H
		b.NH = min(b.NH, b.H)
		b.Title = fmt.Sprintf("%s: %s held with the older snapshots, %s new in it, %s in it (%s)",
			s.Serial, size(cum[i]), size(u.NewBytes), size(u.Bytes), plural(u.Files, "file"))
		if s.Collect {
			b.Class = "collect"
			b.Title += "; the next garbage collection deletes it"
			sc.Collect++
		}
		sc.Bars = append(sc.Bars, b)
	}
	return sc
}

// archiveBars compares the archives' storage: what all the snapshots of
// each hold, and what its newest alone references.
type archiveBars struct {
	Height int
	Rows   []abRow
}

type abRow struct {
	Name          string
	Y             int
	Held, Newest  float64
	HeldS, NewstS string
	Title         string
}

func newArchiveBars(rows []storageRow) *archiveBars {
	var top int64
	for _, r := range rows {
		top = max(top, r.Held)
	}
	if top == 0 {
		return nil
	}
	ab := &archiveBars{}
	y := 0
	for _, r := range rows {
		ab.Rows = append(ab.Rows, abRow{Name: r.Archive, Y: y, Held: float64(r.Held) / float64(top) * 100,
			Newest: float64(r.Newest) / float64(top) * 100, HeldS: size(r.Held), NewstS: size(r.Newest),
			Title: fmt.Sprintf("%s: %s held by %s, %s referenced by the newest", r.Archive, size(r.Held), plural(r.Snapshots, "snapshot"), size(r.Newest))})
		y += 38
	}
	ab.Height = y + 4
	return ab
}

// plural renders "1 package", "3 packages".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
