package httpapi

import (
	"io"
	"log/slog"
	"maps"
	"net/http"

	"github.com/raftbench/raftbench/engine/runtime/testfaults"
)

// TestFaultPath takes a testfaults.Command (serve --test-faults only): an
// /admin/ route, so under auth only the admin role may disturb a node.
const TestFaultPath = "/admin/test-fault"

// withTestFaultRoute adds POST TestFaultPath to routes (a copy).
func withTestFaultRoute(routes map[string]http.Handler, f *testfaults.Faults, log *slog.Logger) map[string]http.Handler {
	out := maps.Clone(routes)
	if out == nil {
		out = map[string]http.Handler{}
	}
	out["POST "+TestFaultPath] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "reading body: " + err.Error(), Definite: true})
			return
		}
		if err := f.ApplyJSON(b); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error(), Definite: true})
			return
		}
		log.Warn("test fault applied", "command", string(b))
		writeJSON(w, http.StatusOK, map[string]string{"applied": string(b)})
	})
	return out
}
