package natsserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded server. Zero fields take the defaults
// noted on them.
type Options struct {
	// Port to listen on at 127.0.0.1; 0 picks a free port (kept for
	// restarts).
	Port int
	// MaxPayload is the server's max_payload in bytes: the largest
	// message a client may publish. Default 1 MiB, NATS's own default.
	MaxPayload int
	// ReadyTimeout bounds the wait for the server to accept clients.
	// Default 10 s.
	ReadyTimeout time.Duration
}

// Server is one embedded NATS server.
type Server struct {
	opts Options

	mu   sync.Mutex
	srv  *server.Server // nil while stopped
	port int
}

// Start starts a server and waits until it accepts clients.
func Start(opts Options) (*Server, error) {
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = 1 << 20
	}
	if opts.MaxPayload > 64<<20 {
		return nil, fmt.Errorf("natsserver: MaxPayload %d above NATS's 64 MiB limit", opts.MaxPayload)
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	s := &Server{opts: opts, port: opts.Port}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) start() error {
	port := s.port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true,
		MaxPayload: int32(s.opts.MaxPayload),
		// Raft's traffic is bursty; a slow reader is cut off only after
		// this long (the default is 10 s), then reconnects.
		WriteDeadline: 5 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("natsserver: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(s.opts.ReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("natsserver: not ready to accept clients on 127.0.0.1:%d within %v", s.port, s.opts.ReadyTimeout)
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		srv.Shutdown()
		srv.WaitForShutdown()
		return errors.New("natsserver: server has no TCP address")
	}
	s.srv, s.port = srv, addr.Port
	return nil
}

// URL is the client URL, nats://127.0.0.1:PORT (the same across restarts).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// MaxPayload is the server's max_payload.
func (s *Server) MaxPayload() int { return s.opts.MaxPayload }

// Running says whether the server is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

// Stop shuts the server down and waits for it; clients see the broker
// go away. Idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts a stopped server again on the same port. It retries
// briefly if the port is still being released.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("natsserver: Restart of a running server")
	}
	var err error
	for range 50 {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}
