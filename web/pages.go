package web

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
)

// --- /ui/-/tags ---

type tagRow struct {
	Tag      string
	Archives []string
	Created  time.Time // the earliest of its snapshots
}

func (u *ui) tags(ctx context.Context) (*page, error) {
	all, err := u.o.Catalog.Tags(ctx)
	if err != nil {
		return nil, err
	}
	var rows []tagRow
	byTag := map[string]int{}
	for _, s := range all {
		tag := strings.TrimPrefix(s.Serial, "@")
		i, ok := byTag[tag]
		if !ok {
			i = len(rows)
			byTag[tag] = i
			rows = append(rows, tagRow{Tag: tag, Created: s.Created})
		}
		r := &rows[i]
		r.Archives = append(r.Archives, s.Archive)
		r.Created = minTime(r.Created, s.Created)
	}
	for i := range rows {
		slices.Sort(rows[i].Archives)
	}
	// Newest first, as the snapshots are listed.
	slices.SortStableFunc(rows, func(a, b tagRow) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Tag, b.Tag)
	})
	return &page{Title: "Tags", Crumbs: []crumb{{"tags", ""}}, Tmpl: "tags", Data: rows}, nil
}

// --- /ui/-/storage ---

type storageRow struct {
	Archive   string
	Snapshots int
	Held      int64 // what its snapshots reference in all
	Newest    int64 // what its newest references
	Collect   int   // snapshots the next collection deletes
}

type storagePage struct {
	Archives []storageRow
	Bars     *archiveBars
	// The next garbage collection, from a dry run (HasGC), as of AsOf.
	HasGC   bool
	GC      gcView
	GCError string
	AsOf    time.Time
	Expired []snapRow
	// FreeShare is the share of the stored bytes it deletes, in percent.
	FreeShare float64
}

// gcView is a dry run with what the store held when it ran.
type gcView struct {
	GCPreview
	// StoredFiles and StoredBytes are the whole store's (HasStored).
	HasStored   bool
	StoredFiles int
	StoredBytes int64
}

// gcDryRun runs the dry run, then measures the store.
func (u *ui) gcDryRun(ctx context.Context) (gcView, error) {
	res, err := u.o.GC(ctx)
	v := gcView{GCPreview: res}
	if err != nil || u.o.Store == nil {
		return v, err
	}
	err = u.o.Store.Walk(ctx, func(i blob.Info) error {
		v.StoredFiles++
		v.StoredBytes += i.Size
		return nil
	})
	v.HasStored = err == nil
	return v, nil
}

func (u *ui) storage(ctx context.Context) (*page, error) {
	names, err := u.archives(ctx)
	if err != nil {
		return nil, err
	}
	sp := storagePage{}
	if u.o.GC != nil {
		res, asOf, err := u.gc.get(ctx, u.gcDryRun, u.o.Now)
		sp.AsOf = asOf
		if err != nil {
			sp.GCError = err.Error()
		} else {
			sp.HasGC, sp.GC = true, res
			for _, s := range res.Expired {
				sp.Expired = append(sp.Expired, u.snapRow(s))
			}
			if res.StoredBytes > 0 && res.Bytes > 0 {
				// Never too thin to see.
				sp.FreeShare = min(max(float64(res.Bytes)/float64(res.StoredBytes)*100, 0.5), 100)
			}
		}
	}
	for _, a := range names {
		snaps, err := u.o.Catalog.Snapshots(ctx, a)
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return nil, err
		}
		usage, err := u.usageOf(ctx, a, snaps)
		if err != nil {
			return nil, err
		}
		row := storageRow{Archive: a, Snapshots: len(snaps)}
		for i, s := range snaps {
			us := usage[s.Serial]
			row.Held += us.NewBytes
			if i == len(snaps)-1 {
				row.Newest = us.Bytes
			} else if r := u.snapRow(s); r.Expired {
				row.Collect++
			}
		}
		sp.Archives = append(sp.Archives, row)
	}
	sp.Bars = newArchiveBars(sp.Archives)
	return &page{Title: "Storage", Crumbs: []crumb{{"storage", ""}}, Tmpl: "storage", Data: sp}, nil
}

// usageCache keeps each archive's usage while its snapshots stay the
// same: computing it reads all the archive's pool file records.
type usageCache struct {
	mu sync.Mutex
	m  map[string]*usageEntry
}

type usageEntry struct {
	mu    sync.Mutex
	key   string
	usage map[string]catalog.Usage
}

// usageKey changes whenever what Usage reports of snaps may: a snapshot
// made or collected, bumped, or a suite untracked.
func usageKey(snaps []catalog.Snapshot) string {
	var b strings.Builder
	for _, s := range snaps {
		b.WriteString(s.Serial)
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(s.ValidUntil.Unix(), 10))
		b.WriteByte(' ')
		b.WriteString(strings.Join(s.Suites, ","))
		b.WriteByte('\n')
	}
	return b.String()
}

// usageOf returns the usage of an archive's snapshots by serial.
func (u *ui) usageOf(ctx context.Context, archive string, snaps []catalog.Snapshot) (map[string]catalog.Usage, error) {
	if len(snaps) == 0 {
		return nil, nil
	}
	c := &u.usage
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*usageEntry{}
	}
	e := c.m[archive]
	if e == nil {
		e = &usageEntry{}
		c.m[archive] = e
	}
	c.mu.Unlock()
	key := usageKey(snaps)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.key == key {
		return e.usage, nil
	}
	list, err := u.o.Catalog.Usage(ctx, archive)
	if err != nil {
		return nil, err
	}
	m := make(map[string]catalog.Usage, len(list))
	for _, x := range list {
		m[x.Serial] = x
	}
	// Kept only if it is the usage of these snapshots: one made or
	// collected in between is read again next time.
	same := len(list) == len(snaps)
	for i := 0; same && i < len(list); i++ {
		same = list[i].Serial == snaps[i].Serial
	}
	if same {
		e.key, e.usage = key, m
	}
	return m, nil
}

// gcCache keeps the last dry run a few minutes (an error, half a minute).
type gcCache struct {
	mu   sync.Mutex
	at   time.Time // when it ran, by the wall clock
	asOf time.Time // by the UI's clock
	res  gcView
	err  error
}

const (
	gcFresh      = 5 * time.Minute
	gcErrorFresh = 30 * time.Second
	gcRunLimit   = 5 * time.Minute
)

func (c *gcCache) get(ctx context.Context, run func(context.Context) (gcView, error), now func() time.Time) (gcView, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := gcFresh
	if c.err != nil {
		fresh = gcErrorFresh
	}
	if c.at.IsZero() || time.Since(c.at) > fresh {
		// Run to its end and kept whatever this request does: a client
		// leaving must not make the next one pay again.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), gcRunLimit)
		res, err := run(rctx)
		cancel()
		c.res, c.err, c.at, c.asOf = res, err, time.Now(), now()
	}
	return c.res, c.asOf, c.err
}
