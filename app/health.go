package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/aptsnap/aptsnap/blob"
)

// HealthPath answers whether the server's storage is reachable: 200 when
// the catalog and the file store answer, 503 naming the degraded part
// (a load balancer takes the server out; snapshots already cached may
// still be served).
const HealthPath = "/api/v1/health"

// Health is the answer at HealthPath.
type Health struct {
	Status  string `json:"status"` // "ok" or "degraded"
	Catalog string `json:"catalog"`
	Store   string `json:"store"`
}

// healthProbe is the digest of a file no one stores.
var healthProbe = blob.Sum([]byte("aptsnap health probe: no file has this content"))

// health checks the catalog and the store, each within timeout.
func (a *App) health(ctx context.Context, timeout time.Duration) Health {
	h := Health{Status: "ok", Catalog: "ok", Store: "ok"}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := a.Catalog.Archives(cctx); err != nil {
		h.Status, h.Catalog = "degraded", "unreachable: "+err.Error()
	}
	sctx, cancel2 := context.WithTimeout(ctx, timeout)
	defer cancel2()
	// A file nobody stores: "not found" is the store answering.
	if _, err := a.Store.Stat(sctx, healthProbe); err != nil && !errors.Is(err, blob.ErrNotFound) {
		h.Status, h.Store = "degraded", "unreachable: "+err.Error()
	}
	return h
}

func (a *App) serveHealth(w http.ResponseWriter, r *http.Request) {
	h := a.health(r.Context(), 5*time.Second)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if h.Status != "ok" {
		a.Log.Warn("health", "catalog", h.Catalog, "store", h.Store)
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(h)
}
