package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
)

// Config configures a Server.
type Config struct {
	Node *node.Node
	// Gatherer serves /metrics (nil: 404 on /metrics).
	Gatherer prometheus.Gatherer
	// RequestTimeout bounds each operation (default 5s); a write that
	// times out is answered 504.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds request bodies (default 1 MiB): 413 beyond.
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Extra are more routes (pattern → handler) served by the same mux,
	// behind whatever wraps the Server (the browser view under /ui/).
	Extra map[string]http.Handler
	// PeerAddrs are the Raft addresses this node was started with
	// (--peers), reported by GET /admin/members for joining nodes.
	PeerAddrs map[uint64]string
	// RequireAddr refuses to add a member without an address (a TCP
	// cluster cannot reach it otherwise).
	RequireAddr bool
	// Security, when set, is served at GET /security, so every result
	// taken against this node can state whether it ran plain or secured.
	Security *Security
}

// Security says how a node's traffic is protected.
type Security struct {
	Raft string `json:"raft"` // "mutual-tls", "plain-tcp" or "nats-plain"
	HTTP string `json:"http"` // "https" or "plain-http"
	Auth string `json:"auth"` // "none" or a summary of the policy
}

// Defaults.
const (
	DefaultRequestTimeout = 5 * time.Second
	DefaultMaxBodyBytes   = 1 << 20
)

// Server is an http.Handler for one node.
type Server struct {
	cfg Config
	mux *http.ServeMux
}

// NewServer returns the handler.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Node == nil {
		return nil, errors.New("httpapi: Node is required")
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /kv/{key}", s.get)
	s.mux.HandleFunc("PUT /kv/{key}", s.put)
	s.mux.HandleFunc("POST /kv/{key}/cas", s.cas)
	s.mux.HandleFunc("GET /status", s.status)
	s.registerAdmin()
	if cfg.Security != nil {
		s.mux.HandleFunc("GET /security", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, cfg.Security) })
	}
	if cfg.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{ErrorLog: nil}))
	}
	for pattern, h := range cfg.Extra {
		s.mux.Handle(pattern, h)
	}
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// errorBody is every error response.
type errorBody struct {
	Error    string `json:"error"`
	Definite bool   `json:"definite"`
	Leader   uint64 `json:"leader,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) badRequest(w http.ResponseWriter, format string, args ...any) {
	writeJSON(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf(format, args...), Definite: true})
}

// fail maps a node error to 503 (definitely not done), 400 (misuse) or
// 504 (outcome unknown).
func (s *Server) fail(w http.ResponseWriter, err error) {
	body := errorBody{Error: err.Error(), Definite: node.Definite(err), Leader: s.cfg.Node.Leader()}
	var nl *engine.NotLeaderError
	if errors.As(err, &nl) {
		body.Leader = nl.Leader
	}
	code := http.StatusGatewayTimeout
	switch {
	case errors.Is(err, node.ErrBadRequest) || errors.Is(err, engine.ErrEmptyProposal):
		code = http.StatusBadRequest
	case body.Definite:
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

// readBody reads at most MaxBodyBytes; false if it already answered.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{
				Error: fmt.Sprintf("body exceeds %d bytes", s.cfg.MaxBodyBytes), Definite: true})
			return nil, false
		}
		s.badRequest(w, "reading body: %v", err)
		return nil, false
	}
	return b, true
}

func (s *Server) key(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	k := r.PathValue("key")
	if k == "" || len(k) > kv.MaxKeyBytes {
		s.badRequest(w, "key must be 1..%d bytes", kv.MaxKeyBytes)
		return nil, false
	}
	return []byte(k), true
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	key, ok := s.key(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	res, err := s.cfg.Node.Read(ctx, kv.EncodeRead(key))
	if err != nil {
		// Reads change nothing: any failure may be retried.
		s.fail(w, readErr(err))
		return
	}
	s.answer(w, res, true)
}

// readErr marks read failures definite: a read has no effect to doubt.
func readErr(err error) error {
	if node.Definite(err) || errors.Is(err, node.ErrBadRequest) {
		return err
	}
	return fmt.Errorf("%w: read not served: %v", node.ErrLeaderChanged, err)
}

func (s *Server) put(w http.ResponseWriter, r *http.Request) {
	key, ok := s.key(w, r)
	if !ok {
		return
	}
	val, ok := s.readBody(w, r)
	if !ok {
		return
	}
	s.propose(w, r, kv.EncodeWrite(key, val))
}

// casBody is the POST /kv/{key}/cas request.
type casBody struct {
	From            *string `json:"from"`
	To              *string `json:"to"`
	CreateIfMissing bool    `json:"create_if_missing"`
}

func (s *Server) cas(w http.ResponseWriter, r *http.Request) {
	key, ok := s.key(w, r)
	if !ok {
		return
	}
	b, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var cb casBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cb); err != nil {
		s.badRequest(w, "cas body: %v", err)
		return
	}
	if cb.From == nil || cb.To == nil {
		s.badRequest(w, `cas body needs "from" and "to"`)
		return
	}
	s.propose(w, r, kv.EncodeCas(key, []byte(*cb.From), []byte(*cb.To), cb.CreateIfMissing))
}

// propose replicates cmd, with the caller's session if it sent one.
func (s *Server) propose(w http.ResponseWriter, r *http.Request, cmd []byte) {
	clientID, seq, err := session(r)
	if err != nil {
		s.badRequest(w, "%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	var res []byte
	if clientID != 0 {
		res, err = s.cfg.Node.ProposeSession(ctx, clientID, seq, cmd)
	} else {
		res, err = s.cfg.Node.Propose(ctx, cmd)
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	s.answer(w, res, false)
}

// session parses X-Client-Id / X-Seq: both or neither.
func session(r *http.Request) (clientID, seq uint64, err error) {
	c, q := r.Header.Get("X-Client-Id"), r.Header.Get("X-Seq")
	if c == "" && q == "" {
		return 0, 0, nil
	}
	if clientID, err = strconv.ParseUint(c, 10, 64); err != nil || clientID == 0 {
		return 0, 0, fmt.Errorf("X-Client-Id must be a non-zero decimal integer, got %q", c)
	}
	if seq, err = strconv.ParseUint(q, 10, 64); err != nil || seq == 0 {
		return 0, 0, fmt.Errorf("X-Seq must be a non-zero decimal integer, got %q", q)
	}
	return clientID, seq, nil
}

// answer turns a kv result into a response.
func (s *Server) answer(w http.ResponseWriter, res []byte, isRead bool) {
	r, err := kv.DecodeResult(res)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "undecodable state machine result"})
		return
	}
	switch r.Status {
	case kv.StatusOK:
		if isRead {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(r.Value)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case kv.StatusNotFound:
		writeJSON(w, http.StatusNotFound, errorBody{Error: "key does not exist", Definite: true})
	case kv.StatusMismatch:
		writeJSON(w, http.StatusConflict, errorBody{Error: "precondition failed: value differs from \"from\"", Definite: true})
	default:
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "state machine rejected the command: " + r.Status.String(), Definite: true})
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Node.Status())
}
