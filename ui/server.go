package ui

import (
	"compress/gzip"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Prefix is where every route of the view lives.
const Prefix = "/ui/"

//go:embed assets
var assets embed.FS

// maxStreams bounds the live streams served at once.
const maxStreams = 64

// streamWriteTimeout bounds one write to a live stream.
const streamWriteTimeout = 30 * time.Second

// Config says what a view shows; any part may be nil.
type Config struct {
	// Live is the live cluster view (/ui/).
	Live *Live
	// Local answers /ui/api/node, for the views of other processes
	// (RemoteNode): this process's own node.
	Local NodeSource
	// Replays are the simulator runs (/ui/sim?seed=N).
	Replays *Replays
	// Chaos is a chaos run (/ui/chaos).
	Chaos *Chaos
}

// Handler serves the view under Prefix: GET and HEAD only.
type Handler struct {
	cfg     Config
	mux     *http.ServeMux
	streams atomic.Int32
	done    chan struct{}
	closed  atomic.Bool
}

// New returns the view's handler.
func New(cfg Config) *Handler {
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), done: make(chan struct{})}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	page := func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(static, "index.html")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	}
	h.mux.HandleFunc("GET /ui/{$}", page)
	h.mux.HandleFunc("GET /ui/sim", page)
	h.mux.HandleFunc("GET /ui/chaos", page)
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /ui/api/info", h.info)
	h.mux.HandleFunc("GET /ui/api/live", h.live)
	h.mux.HandleFunc("GET /ui/api/live/stream", h.stream)
	h.mux.HandleFunc("GET /ui/api/node", h.node)
	h.mux.HandleFunc("GET /ui/api/sim", h.sim)
	h.mux.HandleFunc("GET /ui/api/chaos", h.chaos)
	return h
}

// Close ends every open live stream, so a server's graceful shutdown
// does not wait for them.
func (h *Handler) Close() {
	if h.closed.CompareAndSwap(false, true) {
		close(h.done)
	}
}

// ServeHTTP implements http.Handler. The view is read-only.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		apiError(w, http.StatusMethodNotAllowed, "the view is read-only: GET and HEAD only")
		return
	}
	h.mux.ServeHTTP(w, r)
}

func apiError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// queryCheck refuses parameters the route does not know, so a typo is
// an error rather than silently ignored.
func queryCheck(w http.ResponseWriter, r *http.Request, known ...string) bool {
	for k := range r.URL.Query() {
		ok := false
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok {
			if len(known) == 0 {
				apiError(w, http.StatusBadRequest, "unknown query parameter %q: this route takes none", k)
			} else {
				apiError(w, http.StatusBadRequest, "unknown query parameter %q (known: %s)", k, strings.Join(known, ", "))
			}
			return false
		}
	}
	return true
}

type info struct {
	Live  bool     `json:"live"`
	Seeds []uint64 `json:"seeds"`
	Chaos bool     `json:"chaos"`
}

func (h *Handler) info(w http.ResponseWriter, r *http.Request) {
	if !queryCheck(w, r) {
		return
	}
	in := info{Live: h.cfg.Live != nil, Chaos: h.cfg.Chaos != nil, Seeds: []uint64{}}
	if h.cfg.Replays != nil {
		in.Seeds = h.cfg.Replays.Seeds()
	}
	writeJSON(w, http.StatusOK, in)
}

func (h *Handler) live(w http.ResponseWriter, r *http.Request) {
	if !queryCheck(w, r) {
		return
	}
	if h.cfg.Live == nil {
		apiError(w, http.StatusNotFound, "no live cluster in this process")
		return
	}
	f, next := h.cfg.Live.Frame()
	if f == nil || time.Since(time.UnixMilli(f.T)) > 2*time.Second { // an idle on-demand view samples again from now: wait for a fresh frame
		select {
		case <-next:
			f, _ = h.cfg.Live.Frame()
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
			return
		}
	}
	if f == nil {
		apiError(w, http.StatusServiceUnavailable, "no sample taken yet; retry in a second")
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// stream sends every new frame as a server-sent event.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	if !queryCheck(w, r) {
		return
	}
	if h.cfg.Live == nil {
		apiError(w, http.StatusNotFound, "no live cluster in this process")
		return
	}
	if h.streams.Add(1) > maxStreams {
		h.streams.Add(-1)
		apiError(w, http.StatusServiceUnavailable, "too many live views open (at most %d)", maxStreams)
		return
	}
	defer h.streams.Add(-1)
	fl, ok := w.(http.Flusher)
	if !ok {
		apiError(w, http.StatusInternalServerError, "streaming unsupported by this server")
		return
	}
	// A server's write timeout would cut the stream: each write gets its
	// own deadline instead, so a viewer that stops reading is still let go.
	rc := http.NewResponseController(w)
	extend := func() { rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) }
	extend()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	var sent *Frame
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		f, next := h.cfg.Live.Frame()
		if f != nil && f != sent {
			b, err := json.Marshal(f)
			if err != nil {
				return
			}
			extend()
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			fl.Flush()
			sent = f
		}
		select {
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		case <-next:
		case <-keepAlive.C:
			extend()
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

func (h *Handler) node(w http.ResponseWriter, r *http.Request) {
	if !queryCheck(w, r) {
		return
	}
	if h.cfg.Local == nil {
		apiError(w, http.StatusNotFound, "no node in this process")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	writeJSON(w, http.StatusOK, h.cfg.Local.Sample(ctx))
}

func (h *Handler) sim(w http.ResponseWriter, r *http.Request) {
	if !queryCheck(w, r, "seed") {
		return
	}
	if h.cfg.Replays == nil {
		apiError(w, http.StatusNotFound, "no simulator runs in this process")
		return
	}
	q := r.URL.Query().Get("seed")
	if q == "" {
		apiError(w, http.StatusBadRequest, "seed is required (recorded: %v)", h.cfg.Replays.Seeds())
		return
	}
	seed, err := strconv.ParseUint(q, 10, 64)
	if err != nil {
		apiError(w, http.StatusBadRequest, "seed %q: want a decimal number in [0, 2^64)", q)
		return
	}
	rec := h.cfg.Replays.Get(seed)
	if rec == nil {
		apiError(w, http.StatusNotFound, "seed %d was not recorded (recorded: %v)", seed, h.cfg.Replays.Seeds())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		json.NewEncoder(w).Encode(rec)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	json.NewEncoder(gz).Encode(rec)
	gz.Close()
}

func (h *Handler) chaos(w http.ResponseWriter, r *http.Request) {
	if !queryCheck(w, r, "since") {
		return
	}
	if h.cfg.Chaos == nil {
		apiError(w, http.StatusNotFound, "no chaos run in this process")
		return
	}
	since := 0
	if q := r.URL.Query().Get("since"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 0 {
			apiError(w, http.StatusBadRequest, "since %q: want a non-negative operation count", q)
			return
		}
		since = n
	}
	writeJSON(w, http.StatusOK, h.cfg.Chaos.page(since))
}

// Server is a view listening on its own address (run, sim and chaos
// --ui ADDR).
type Server struct {
	h    *Handler
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Listen serves h (and a redirect from / to the view) on addr.
func Listen(addr string, h *Handler) (*Server, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("--ui %q: want host:port (e.g. 127.0.0.1:8080): %v", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--ui %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix, h)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, Prefix, http.StatusFound) })
	s := &Server{h: h, ln: ln, done: make(chan error, 1),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10, IdleTimeout: time.Minute}}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// URL is the view's address.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + Prefix }

// Close stops the server, ending open streams.
func (s *Server) Close() error {
	s.h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	if e := <-s.done; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}
