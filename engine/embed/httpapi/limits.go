package httpapi

import (
	"net"
	"sync"
	"time"
)

// Limits bound what clients can make the HTTP listener hold. Zero
// fields take the defaults.
type Limits struct {
	// MaxConns bounds open connections (default 1024). Beyond it, new
	// connections wait in the kernel's accept queue until one closes.
	MaxConns int
	// MaxHeaderBytes bounds request headers (default 16 KiB): 431 beyond.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds receiving the headers (default 5 s),
	// ReadTimeout the whole request (default 30 s), IdleTimeout a
	// keep-alive connection between requests (default 60 s): a slow or
	// silent client cannot hold a connection and its goroutine forever.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	// WriteTimeout bounds a request from its headers to the end of the
	// answer (default 30 s, well above the request timeout), so a client
	// that stops reading its answer does not pin the handler.
	WriteTimeout time.Duration
}

// Defaults for Limits.
const (
	DefaultMaxConns          = 1024
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
)

func (l Limits) withDefaults() Limits {
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
	return l
}

// limitListener accepts at most n connections at a time: Accept waits
// for a slot before taking the next connection from the kernel.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

// LimitListener wraps ln so at most n of its connections are open.
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
