package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/stable"
)

// The fake's update operations record the call with who made it.

func (f *fakeOps) who(ctx context.Context) string {
	a, ok := ActorFrom(ctx)
	if !ok {
		return "nobody"
	}
	return a.Name + "/" + string(a.Role)
}

func (f *fakeOps) UpdateNew(ctx context.Context, req stable.NewRequest) (*stable.Request, error) {
	f.record("update new %s %v %s by %s", req.Series, req.Sources, req.Version, f.who(ctx))
	return &stable.Request{ID: 1}, nil
}

func (f *fakeOps) UpdateList(_ context.Context, series string, state stable.State) ([]*stable.Request, error) {
	f.record("update list %s %s", series, state)
	return nil, nil
}

func (f *fakeOps) UpdateShow(_ context.Context, id int64) (*stable.Request, error) {
	f.record("update show %d", id)
	return &stable.Request{ID: id}, nil
}

func (f *fakeOps) UpdateEdit(ctx context.Context, id int64, section, text string) (*stable.Request, error) {
	f.record("update edit %d %s %q by %s", id, section, text, f.who(ctx))
	return &stable.Request{ID: id}, nil
}

func (f *fakeOps) UpdateUpload(ctx context.Context, id int64, files []string) (*stable.Request, error) {
	f.record("update upload %d %v by %s", id, baseNames(files), f.who(ctx))
	return &stable.Request{ID: id}, nil
}

func (f *fakeOps) UpdateDo(ctx context.Context, id int64, action string, arg UpdateArg) (*stable.Request, error) {
	f.record("update %s %d %q %s by %s", action, id, arg.Reason, fmtPhase(arg.Phase), f.who(ctx))
	return &stable.Request{ID: id}, nil
}

func (f *fakeOps) UpdateVerify(ctx context.Context, id int64, rep stable.Report) (*stable.Request, error) {
	f.record("update verify %d %d checks by %s", id, len(rep.Checks), f.who(ctx))
	return &stable.Request{ID: id}, nil
}

// TestUpdateRoles: each update endpoint needs its role, and the operation
// learns who called it from the token.
func TestUpdateRoles(t *testing.T) {
	f := newFixture(t)
	nt, err := LocalTokens{f.cat}.CreateToken(context.Background(), "rev", catalog.RoleReviewer)
	if err != nil {
		t.Fatal(err)
	}
	reviewer := nt.Secret
	for _, tc := range []struct {
		method, path, body string
		token              string
		want               int
		call               string
	}{
		{"POST", "/api/v1/updates", `{"series":"ours/stable","sources":["a"],"version":"1"}`, "", http.StatusUnauthorized, ""},
		{"POST", "/api/v1/updates", `{"series":"ours/stable","sources":["a"],"version":"1"}`, f.manager, http.StatusCreated, "update new ours/stable [a] 1 by rm/release-manager"},
		{"GET", "/api/v1/updates?series=ours/stable&state=draft", "", "", http.StatusOK, "update list ours/stable draft"},
		{"GET", "/api/v1/updates/7", "", "", http.StatusOK, "update show 7"},
		{"GET", "/api/v1/updates/x", "", "", http.StatusBadRequest, ""},
		{"POST", "/api/v1/updates/7/edit", `{"section":"Impact","text":"t"}`, f.manager, http.StatusOK, `update edit 7 Impact "t" by rm/release-manager`},
		{"POST", "/api/v1/updates/7/submit", ``, f.manager, http.StatusOK, `update submit 7 "" - by rm/release-manager`},
		{"POST", "/api/v1/updates/7/accept", ``, f.manager, http.StatusForbidden, ""},
		{"POST", "/api/v1/updates/7/accept", ``, reviewer, http.StatusOK, `update accept 7 "" - by rev/reviewer`},
		{"POST", "/api/v1/updates/7/release", `{"phase":0}`, reviewer, http.StatusOK, `update release 7 "" 0 by rev/reviewer`},
		{"POST", "/api/v1/updates/7/release", ``, f.admin, http.StatusOK, `update release 7 "" - by root/admin`},
		{"POST", "/api/v1/updates/7/phase", `{"phase":30}`, f.manager, http.StatusForbidden, ""},
		{"POST", "/api/v1/updates/7/halt", ``, reviewer, http.StatusOK, `update halt 7 "" - by rev/reviewer`},
		{"POST", "/api/v1/updates/7/reject", `{"reason":"no"}`, f.manager, http.StatusOK, `update reject 7 "no" - by rm/release-manager`},
		{"POST", "/api/v1/updates/7/verify", `{"versions":{"a":"1-1"},"checks":[{"name":"x","passed":true}]}`, f.manager, http.StatusOK, "update verify 7 1 checks by rm/release-manager"},
		{"POST", "/api/v1/updates/7/frobnicate", ``, f.admin, http.StatusNotFound, ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			before := len(f.ops.called())
			w := f.do(tc.method, tc.path, tc.body, tc.token, "")
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			calls := f.ops.called()[before:]
			got := strings.Join(calls, "; ")
			if got != tc.call {
				t.Errorf("calls %q, want %q", got, tc.call)
			}
		})
	}
}
