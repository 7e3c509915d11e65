package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/stable"
)

// Updates are the operations on stable update requests (see package
// stable). Who makes a change is the caller of the API (its token's name
// and role), or the local user (see WithActor).
type Updates interface {
	UpdateNew(ctx context.Context, req stable.NewRequest) (*stable.Request, error)
	// UpdateList lists requests of a series ("archive/suite", "" for all)
	// in a state ("" for all), oldest first.
	UpdateList(ctx context.Context, series string, state stable.State) ([]*stable.Request, error)
	UpdateShow(ctx context.Context, id int64) (*stable.Request, error)
	// UpdateEdit replaces a section's text (section "": the whole text,
	// as stable.Request.Text writes it).
	UpdateEdit(ctx context.Context, id int64, section, text string) (*stable.Request, error)
	// UpdateUpload adds the family's .changes files with the files they list.
	UpdateUpload(ctx context.Context, id int64, files []string) (*stable.Request, error)
	// UpdateDo runs a transition: submit, accept, reject (Reason),
	// release (Phase), phase (Phase), halt.
	UpdateDo(ctx context.Context, id int64, action string, arg UpdateArg) (*stable.Request, error)
	// UpdateVerify records a verification report.
	UpdateVerify(ctx context.Context, id int64, rep stable.Report) (*stable.Request, error)
}

// UpdateArg is what a transition takes.
type UpdateArg struct {
	Reason string `json:"reason,omitempty"`
	// Phase is a percentage: where a release starts (nil: the archive's
	// phase_start), or what phase sets.
	Phase *int `json:"phase,omitempty"`
}

// UpdateActions are the transitions UpdateDo runs, with the role each
// needs through the API.
var UpdateActions = map[string]catalog.Role{
	"submit":  catalog.RoleReleaseManager,
	"accept":  catalog.RoleReviewer,
	"reject":  catalog.RoleReleaseManager, // a draft by its author; else a reviewer (checked by stable)
	"release": catalog.RoleReviewer,
	"phase":   catalog.RoleReviewer,
	"halt":    catalog.RoleReviewer,
}

// maxReport bounds a verification report's body: its checks' logs.
const maxReport = 8 << 20

type actorKey struct{}

// WithActor returns ctx carrying who makes the changes done with it.
func WithActor(ctx context.Context, a stable.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor WithActor put in ctx.
func ActorFrom(ctx context.Context) (stable.Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(stable.Actor)
	return a, ok
}

func updatePath(id int64) string { return "updates/" + strconv.FormatInt(id, 10) }

// UpdateNew implements Updates.
func (c *Client) UpdateNew(ctx context.Context, req stable.NewRequest) (*stable.Request, error) {
	var out stable.Request
	return &out, c.do(ctx, http.MethodPost, "updates", req, &out)
}

// UpdateList implements Updates.
func (c *Client) UpdateList(ctx context.Context, series string, state stable.State) ([]*stable.Request, error) {
	var out []*stable.Request
	q := url.Values{}
	if series != "" {
		q.Set("series", series)
	}
	if state != "" {
		q.Set("state", string(state))
	}
	p := "updates"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// UpdateShow implements Updates.
func (c *Client) UpdateShow(ctx context.Context, id int64) (*stable.Request, error) {
	var out stable.Request
	return &out, c.do(ctx, http.MethodGet, updatePath(id), nil, &out)
}

// UpdateEdit implements Updates.
func (c *Client) UpdateEdit(ctx context.Context, id int64, section, text string) (*stable.Request, error) {
	var out stable.Request
	return &out, c.do(ctx, http.MethodPost, updatePath(id)+"/edit", map[string]string{"section": section, "text": text}, &out)
}

// UpdateUpload implements Updates.
func (c *Client) UpdateUpload(ctx context.Context, id int64, files []string) (*stable.Request, error) {
	var out stable.Request
	return &out, c.sendFiles(ctx, updatePath(id)+"/uploads", nil, files, &out)
}

// UpdateDo implements Updates.
func (c *Client) UpdateDo(ctx context.Context, id int64, action string, arg UpdateArg) (*stable.Request, error) {
	var out stable.Request
	if _, ok := UpdateActions[action]; !ok {
		return nil, fmt.Errorf("no update action %q", action)
	}
	return &out, c.do(ctx, http.MethodPost, updatePath(id)+"/"+action, arg, &out)
}

// UpdateVerify implements Updates.
func (c *Client) UpdateVerify(ctx context.Context, id int64, rep stable.Report) (*stable.Request, error) {
	var out stable.Request
	return &out, c.do(ctx, http.MethodPost, updatePath(id)+"/verify", rep, &out)
}

// updateRoutes adds the update endpoints:
//
//	GET  /api/v1/updates[?series=A/S&state=S]   []Request           anyone
//	POST /api/v1/updates                        NewRequest          release-manager
//	GET  /api/v1/updates/{id}                   Request             anyone
//	POST /api/v1/updates/{id}/edit              {"section","text"}  release-manager
//	POST /api/v1/updates/{id}/uploads           multipart: file...  release-manager
//	POST /api/v1/updates/{id}/verify            Report              release-manager
//	POST /api/v1/updates/{id}/{action}          UpdateArg           see UpdateActions
func (s *server) updateRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/updates", s.handle("", func(c *call) error {
		out, err := s.ops.UpdateList(c.r.Context(), c.r.URL.Query().Get("series"), stable.State(c.r.URL.Query().Get("state")))
		if err != nil {
			return err
		}
		return writeJSON(c.w, http.StatusOK, nonNil(out))
	}))
	mux.HandleFunc("POST /api/v1/updates", s.handle(catalog.RoleReleaseManager, func(c *call) error {
		var req stable.NewRequest
		if err := decode(c.r, &req); err != nil {
			return err
		}
		r, err := s.ops.UpdateNew(c.actor(), req)
		s.audit(c, "update new", err, "series", req.Series, "sources", req.Sources, "version", req.Version, "id", idOf(r))
		if err != nil {
			return err
		}
		return writeJSON(c.w, http.StatusCreated, r)
	}))
	mux.HandleFunc("GET /api/v1/updates/{id}", s.handle("", func(c *call) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		r, err := s.ops.UpdateShow(c.r.Context(), id)
		if err != nil {
			return err
		}
		return writeJSON(c.w, http.StatusOK, r)
	}))
	mux.HandleFunc("POST /api/v1/updates/{id}/edit", s.handleLimit(catalog.RoleReleaseManager, maxReport, func(c *call) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		var req struct {
			Section string `json:"section"`
			Text    string `json:"text"`
		}
		if err := decode(c.r, &req); err != nil {
			return err
		}
		r, err := s.ops.UpdateEdit(c.actor(), id, req.Section, req.Text)
		s.audit(c, "update edit", err, "id", id, "section", req.Section)
		return writeResult(c, r, err)
	}))
	mux.HandleFunc("POST /api/v1/updates/{id}/uploads", s.handleUpload(catalog.RoleReleaseManager, func(c *call) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		files, cleanup, err := s.receive(c, nil)
		defer cleanup()
		if err != nil {
			return err
		}
		r, err := s.ops.UpdateUpload(c.actor(), id, files)
		s.audit(c, "update upload", err, "id", id, "files", baseNames(files))
		return writeResult(c, r, err)
	}))
	mux.HandleFunc("POST /api/v1/updates/{id}/verify", s.handleLimit(catalog.RoleReleaseManager, maxReport, func(c *call) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		var rep stable.Report
		if err := decode(c.r, &rep); err != nil {
			return err
		}
		r, err := s.ops.UpdateVerify(c.actor(), id, rep)
		s.audit(c, "update verify", err, "id", id, "checks", len(rep.Checks))
		return writeResult(c, r, err)
	}))
	for action, role := range UpdateActions {
		mux.HandleFunc("POST /api/v1/updates/{id}/"+action, s.handle(role, func(c *call) error {
			id, err := pathID(c)
			if err != nil {
				return err
			}
			var arg UpdateArg
			if err := decode(c.r, &arg); err != nil {
				return err
			}
			r, err := s.ops.UpdateDo(c.actor(), id, action, arg)
			s.audit(c, "update "+action, err, "id", id, "reason", arg.Reason, "phase", fmtPhase(arg.Phase))
			return writeResult(c, r, err)
		}))
	}
}

// actor is the request's context, carrying its caller (WithActor).
func (c *call) actor() context.Context {
	return WithActor(c.r.Context(), stable.Actor{Name: c.who.Name, Role: c.who.Role})
}

func writeResult(c *call, r *stable.Request, err error) error {
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, r)
}

func idOf(r *stable.Request) int64 {
	if r == nil {
		return 0
	}
	return r.ID
}

func pathID(c *call) (int64, error) {
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, errdefs.Errorf(ErrInvalid, "no update request %q: give its number", c.r.PathValue("id"))
	}
	return id, nil
}

func fmtPhase(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}
