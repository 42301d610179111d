package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/engine/runtime/node"
)

// Client talks to one node's HTTP API. It is safe for concurrent use;
// concurrent requests share its keep-alive connection pool.
type Client struct {
	base  string
	hc    *http.Client
	token string
}

// ClientOptions tunes the connections of a Client made by
// NewClientWithOptions. Zero fields take the defaults.
type ClientOptions struct {
	// MaxIdleConns bounds the idle keep-alive connections kept open to
	// the node (default 256). A caller with N requests in flight at once
	// wants N here, or each request beyond the pool opens a fresh
	// connection and closes it afterwards.
	MaxIdleConns int
	// DialTimeout bounds making a connection (default 5 s): a node that
	// is down is reported quickly, as a dial error, so the caller can try
	// another node knowing the request was never sent.
	DialTimeout time.Duration
	// Timeout bounds a whole request, answer body included (default: no
	// bound beyond the caller's context).
	Timeout time.Duration
	// TLS configures HTTPS (an https:// base): the CA to trust and, for
	// client-certificate authentication, the certificate to present.
	TLS *tls.Config
	// Token, if set, is sent as "Authorization: Bearer <token>".
	Token string
}

// Defaults for ClientOptions.
const (
	DefaultMaxIdleConns = 256
	DefaultDialTimeout  = 5 * time.Second
)

// NewClient returns a client for base, e.g. "http://127.0.0.1:8001".
// hc nil means a client with the default ClientOptions.
func NewClient(base string, hc *http.Client) *Client {
	if hc == nil {
		return NewClientWithOptions(base, ClientOptions{})
	}
	return &Client{base: strings.TrimRight(base, "/"), hc: hc}
}

// NewClientWithOptions returns a client for base with its own
// connection pool tuned by o.
func NewClientWithOptions(base string, o ClientOptions) *Client {
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = DefaultMaxIdleConns
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	tr := &http.Transport{
		Proxy:               nil, // a node is reached directly, never through $HTTP_PROXY
		DialContext:         (&net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no limit across hosts: there is one host
		MaxIdleConnsPerHost: o.MaxIdleConns,
		IdleConnTimeout:     90 * time.Second,
		// The server never compresses; asking would only cost a header.
		DisableCompression: true,
		TLSClientConfig:    o.TLS,
	}
	return &Client{base: strings.TrimRight(base, "/"), hc: &http.Client{Transport: tr, Timeout: o.Timeout}, token: o.Token}
}

// Base is the node's base URL, as given to NewClient.
func (c *Client) Base() string { return c.base }

// CloseIdleConnections closes the pool's idle connections.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Errors for results that are answers, not failures.
var (
	ErrNotFound     = errors.New("httpapi: key does not exist")
	ErrPrecondition = errors.New("httpapi: precondition failed")
)

// StatusError is a failed request: Code is the HTTP status; Definite
// says the server knows the operation did not happen (503, 4xx).
type StatusError struct {
	Code     int
	Msg      string
	Definite bool
	Leader   uint64
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("httpapi: HTTP %d: %s (definite=%v)", e.Code, e.Msg, e.Definite)
}

// NotSent reports whether err, from a Client call, means the request
// never reached the node: no connection could be made. Such a request
// can go to another node as it is; after any other transport error the
// node may have done it, and only a Session makes a retry safe.
func NotSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" || errors.Is(err, syscall.ECONNREFUSED)
}

// Session identifies a request for exactly-once retries; zero means none.
type Session struct{ ClientID, Seq uint64 }

// ErrValueTooLarge: the node answered a read with more than
// kv.MaxValueBytes, which no write through this API can have stored.
var ErrValueTooLarge = fmt.Errorf("httpapi: value larger than %d bytes", kv.MaxValueBytes)

// Get reads key linearizably; ErrNotFound if it has no value.
func (c *Client) Get(ctx context.Context, key string) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, "/kv/"+url.PathEscape(key), nil, Session{})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		// Bounded, so a confused or hostile server cannot make the client
		// buffer without limit.
		v, err := io.ReadAll(io.LimitReader(resp.Body, kv.MaxValueBytes+1))
		if err != nil {
			return nil, err
		}
		if len(v) > kv.MaxValueBytes {
			return nil, ErrValueTooLarge
		}
		return v, nil
	}
	return nil, responseError(resp)
}

// Put writes key = value.
func (c *Client) Put(ctx context.Context, key string, value []byte, s Session) error {
	return c.noContent(ctx, http.MethodPut, "/kv/"+url.PathEscape(key), value, s)
}

// Cas sets key to "to" if it holds "from" (or is missing and
// createIfMissing): ErrNotFound / ErrPrecondition otherwise.
func (c *Client) Cas(ctx context.Context, key, from, to string, createIfMissing bool, s Session) error {
	body, _ := json.Marshal(casBody{From: &from, To: &to, CreateIfMissing: createIfMissing})
	return c.noContent(ctx, http.MethodPost, "/kv/"+url.PathEscape(key)+"/cas", body, s)
}

// Status fetches /status.
func (c *Client) Status(ctx context.Context) (node.Status, error) {
	var st node.Status
	resp, err := c.do(ctx, http.MethodGet, "/status", nil, Session{})
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, responseError(resp)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
	return st, err
}

func (c *Client) noContent(ctx context.Context, method, path string, body []byte, s Session) error {
	resp, err := c.do(ctx, method, path, body, s)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return responseError(resp)
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, s Session) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if s.ClientID != 0 {
		req.Header.Set("X-Client-Id", strconv.FormatUint(s.ClientID, 10))
		req.Header.Set("X-Seq", strconv.FormatUint(s.Seq, 10))
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.hc.Do(req)
}

// responseError decodes an error response.
func responseError(resp *http.Response) error {
	var eb errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &eb) != nil {
		eb.Error = string(b)
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		if eb.Error == "key does not exist" {
			return ErrNotFound
		}
	case http.StatusConflict:
		return ErrPrecondition
	}
	return &StatusError{Code: resp.StatusCode, Msg: eb.Error, Definite: eb.Definite, Leader: eb.Leader}
}
