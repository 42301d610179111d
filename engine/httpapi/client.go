package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/raftbench/raftbench/engine/node"
)

// Client talks to one node's HTTP API.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client for base, e.g. "http://127.0.0.1:8001".
// hc nil means a default client with keep-alive connections.
func NewClient(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	}
	return &Client{base: base, hc: hc}
}

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

// Session identifies a request for exactly-once retries; zero means none.
type Session struct{ ClientID, Seq uint64 }

// Get reads key linearizably; ErrNotFound if it has no value.
func (c *Client) Get(ctx context.Context, key string) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, "/kv/"+url.PathEscape(key), nil, Session{})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return io.ReadAll(resp.Body)
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
