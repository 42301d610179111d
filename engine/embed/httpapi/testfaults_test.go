package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/testfaults"
)

// TestTestFaultRoute: the fault endpoint applies good commands, refuses
// bad ones with a definite 400, and is an admin route under auth.
func TestTestFaultRoute(t *testing.T) {
	f := testfaults.New()
	routes := withTestFaultRoute(nil, f, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	for p, h := range routes {
		mux.Handle(p, h)
	}
	post := func(body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, TestFaultPath, strings.NewReader(body)))
		return w
	}
	if w := post(`{"fault":"clock","mode":"jump","offset_ms":-30000}`); w.Code != http.StatusOK {
		t.Fatalf("jump: %d %s", w.Code, w.Body)
	}
	if behind := time.Since(f.Clock.Now()); behind < 29*time.Second {
		t.Fatalf("clock only %v behind after a -30s jump", behind)
	}
	for _, bad := range []string{`{"fault":"disk","mode":"melt"}`, `nope`, strings.Repeat("x", 5000)} {
		if w := post(bad); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"definite":true`) {
			t.Errorf("%.20s: %d %s", bad, w.Code, w.Body)
		}
	}
	r := httptest.NewRequest(http.MethodPost, TestFaultPath, nil)
	if c := Classify(r); c != ClassAdmin {
		t.Fatalf("%s is class %v, want admin", TestFaultPath, c)
	}
}
