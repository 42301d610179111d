package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/cluster"
)

var (
	fuzzOnce    sync.Once
	fuzzHandler http.Handler
	fuzzErr     error
)

// fuzzServer is one single-node cluster behind the real handler and
// the auth middleware, shared by every fuzz input of the process.
func fuzzServer(t *testing.T) http.Handler {
	fuzzOnce.Do(func() {
		dir, err := os.MkdirTemp("", "httpapi-fuzz-")
		if err != nil {
			fuzzErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := cluster.StartInProc(ctx, cluster.Config{Nodes: 1, Dir: dir})
		if err != nil {
			fuzzErr = err
			return
		}
		s, err := NewServer(Config{Node: c.Node(1), RequestTimeout: 200 * time.Millisecond, MaxBodyBytes: 4096,
			Security: &Security{Raft: "plain-tcp", HTTP: "plain-http", Auth: "fuzz"}})
		if err != nil {
			fuzzErr = err
			return
		}
		toks, _ := ParseTokens(strings.NewReader("write w "+writeTok+"\nadmin a "+adminTok+"\n"), "fuzz")
		fuzzHandler = Protect(s, &AuthPolicy{Tokens: toks, ProtectMetrics: true}, nil)
	})
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return fuzzHandler
}

// FuzzHandler sends arbitrary methods, paths, headers and bodies to the
// HTTP API behind its auth middleware: it must never panic, every
// status must be a real one, and every JSON answer must be valid JSON.
func FuzzHandler(f *testing.F) {
	f.Add("PUT", "/kv/a", "Bearer "+writeTok, "1:1", []byte("v"))
	f.Add("GET", "/kv/a", "", "", []byte(nil))
	f.Add("POST", "/kv/a/cas", "Bearer "+writeTok, "", []byte(`{"from":"v","to":"w"}`))
	f.Add("POST", "/kv/a/cas", "Bearer "+writeTok, "0:x", []byte(`{"from":1}`))
	f.Add("GET", "/status", "Basic xx", "", []byte(nil))
	f.Add("GET", "/metrics", "Bearer nope", "", []byte(nil))
	f.Add("POST", "/admin/peers", "Bearer "+adminTok, "", []byte(`{}`))
	f.Add("DELETE", "/kv/%ff", "bearer", "", []byte(nil))
	f.Add("GET", "/security", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, method, path, auth, session string, body []byte) {
		h := fuzzServer(t)
		u, err := url.ParseRequestURI(path)
		if err != nil || !validMethod(method) {
			return // net/http refuses these before any handler runs
		}
		req := &http.Request{Method: method, URL: u, RequestURI: path, Header: http.Header{},
			Body: http.NoBody, Host: "fuzz", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		req = req.WithContext(context.Background())
		if len(body) > 0 {
			req.Body, req.ContentLength = httpBody(body), int64(len(body))
		}
		if auth != "" && validHeader(auth) {
			req.Header.Set("Authorization", auth)
		}
		if c, s, ok := strings.Cut(session, ":"); ok && validHeader(c) && validHeader(s) {
			req.Header.Set("X-Client-Id", c)
			req.Header.Set("X-Seq", s)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 100 || rec.Code > 599 {
			t.Fatalf("%s %s: status %d", method, path, rec.Code)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: invalid JSON answer %q", method, path, rec.Body)
		}
	})
}

type bodyReader struct{ *bytes.Reader }

func (bodyReader) Close() error { return nil }

func httpBody(b []byte) bodyReader { return bodyReader{bytes.NewReader(b)} }

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	return true
}

func validHeader(v string) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzParseTokens: the token file parser never panics and never quotes
// a token in its errors.
func FuzzParseTokens(f *testing.F) {
	f.Add("write app 0123456789abcdefXYZ\n# c\nadmin ops 0123456789abcdefQQQ\n")
	f.Add("read x short\n")
	f.Add("root a 0123456789abcdef0000\n")
	f.Fuzz(func(t *testing.T, in string) {
		toks, err := ParseTokens(strings.NewReader(in), "f")
		if err != nil {
			for _, fld := range strings.Fields(in) {
				if len(fld) >= 16 && strings.Contains(err.Error(), fld) && !strings.Contains(in, "\""+fld) {
					t.Fatalf("error quotes a token-like field %q: %v", fld, err)
				}
			}
			return
		}
		for _, p := range toks {
			if p.Role == RoleNone || p.Name == "" {
				t.Fatalf("bad principal %+v", p)
			}
		}
	})
}
