package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/mtls"
)

const (
	readTok  = "read-token-0123456789"
	writeTok = "write-token-0123456789"
	adminTok = "admin-token-0123456789"
)

func testPolicy(t *testing.T) *AuthPolicy {
	t.Helper()
	toks, err := ParseTokens(strings.NewReader(fmt.Sprintf("# comment\nread dash %s\nwrite app %s\n\nadmin ops %s\n", readTok, writeTok, adminTok)), "test")
	if err != nil {
		t.Fatal(err)
	}
	return &AuthPolicy{Tokens: toks, ClientCertRole: RoleWrite}
}

// TestAuthPolicy: every class with no, bad, too weak and strong enough
// credentials; 401 carries WWW-Authenticate and a JSON body that says
// what to send, 403 names the role needed; tokens never reach the log.
func TestAuthPolicy(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	open := testPolicy(t)
	closed := testPolicy(t)
	closed.ProtectReads, closed.ProtectMetrics, closed.ProtectUI = true, true, true
	cases := []struct {
		pol          *AuthPolicy
		method, path string
		auth         string
		want         int
	}{
		{open, "PUT", "/kv/a", "", 401},
		{open, "PUT", "/kv/a", "Bearer wrong-token-0123456789", 401},
		{open, "PUT", "/kv/a", "Basic " + writeTok, 401},
		{open, "PUT", "/kv/a", "Bearer " + readTok, 403},
		{open, "PUT", "/kv/a", "Bearer " + writeTok, 418},
		{open, "POST", "/kv/a/cas", "bearer " + writeTok, 418},
		{open, "DELETE", "/kv/a", "", 401},
		{open, "POST", "/somewhere/new", "", 401}, // unclassified routes are protected
		{open, "POST", "/admin/peers", "Bearer " + writeTok, 403},
		{open, "GET", "/admin/peers", "", 401},
		{open, "POST", "/admin/peers", "Bearer " + adminTok, 418},
		{open, "GET", "/kv/a", "", 418},
		{open, "GET", "/status", "", 418},
		{open, "GET", "/metrics", "", 418},
		{open, "GET", "/ui/", "", 418},
		{closed, "GET", "/kv/a", "", 401},
		{closed, "GET", "/kv/a", "Bearer " + readTok, 418},
		{closed, "GET", "/metrics", "", 401},
		{closed, "GET", "/metrics", "Bearer " + readTok, 418},
		{closed, "GET", "/ui/cluster", "", 401},
		{closed, "HEAD", "/status", "Bearer nope-nope-nope-nope", 401},
	}
	h := map[*AuthPolicy]http.Handler{open: Protect(ok, open, log), closed: Protect(ok, closed, log)}
	for _, tc := range cases {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h[tc.pol].ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s (%q): %d, want %d: %s", tc.method, tc.path, tc.auth, rec.Code, tc.want, rec.Body)
			continue
		}
		if tc.want == 401 || tc.want == 403 {
			var body errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" || !body.Definite {
				t.Errorf("%s %s: body %q is not a clear JSON error (%v)", tc.method, tc.path, rec.Body, err)
			}
		}
		if tc.want == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", tc.method, tc.path)
		}
	}
	for _, tok := range []string{readTok, writeTok, adminTok, "wrong-token"} {
		if strings.Contains(logs.String(), tok) {
			t.Fatalf("a token reached the log: %s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "principal=dash") {
		t.Fatalf("refusals should name the principal: %s", logs.String())
	}
}

func TestParseTokensErrors(t *testing.T) {
	for _, in := range []string{
		"", "write app", "root app 0123456789abcdef", "write app short",
		"write a 0123456789abcdef\nread b 0123456789abcdef",
	} {
		_, err := ParseTokens(strings.NewReader(in), "f")
		if err == nil {
			t.Errorf("%q: accepted", in)
		} else if strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("%q: error quotes the token: %v", in, err)
		}
	}
}

// TestSecureServe runs three Serve nodes with mutual TLS between them,
// HTTPS and tokens: writes need a write token or a client certificate,
// reads are open, /security states the mode, plain HTTP gets nowhere,
// oversize headers get 431.
func TestSecureServe(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if _, err := mtls.WriteDev(certs, mtls.DevOptions{Nodes: []uint64{1, 2, 3}, Clients: []string{"app"}}); err != nil {
		t.Fatal(err)
	}
	raft, web := freePorts(t, 3), freePorts(t, 3)
	peers := map[string]string{"n1": raft[0], "n2": raft[1], "n3": raft[2]}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 3)
	caOnly, err := mtls.Load(mtls.ClientFiles(certs, "app"))
	if err != nil {
		t.Fatal(err)
	}
	trust := &tls.Config{RootCAs: caOnly.CAPool(), MinVersion: tls.VersionTLS13}
	withCert := trust.Clone()
	kp, err := tls.LoadX509KeyPair(mtls.ClientFiles(certs, "app").Cert, mtls.ClientFiles(certs, "app").Key)
	if err != nil {
		t.Fatal(err)
	}
	withCert.Certificates = []tls.Certificate{kp}
	procs := make([]*proc, 3)
	for i := range procs {
		name := fmt.Sprintf("n%d", i+1)
		procs[i] = &proc{name: name, http: web[i], client: NewClientWithOptions("https://"+web[i], ClientOptions{TLS: trust, Token: readTok})}
		cfg := ServeConfig{Name: name, Peers: peers, Dir: filepath.Join(dir, name), HTTPAddr: web[i],
			UnsafeNoFsync: true, TLSDir: certs, Auth: testPolicy(t), Limits: Limits{MaxHeaderBytes: 4096}}
		go func() { errc <- Serve(runCtx, cfg) }()
	}
	defer func() {
		stop()
		for range procs {
			if err := <-errc; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}()
	waitProcLeader(t, ctx, procs, nil)
	base := "https://" + web[0]
	writer := NewClientWithOptions(base, ClientOptions{TLS: trust, Token: writeTok})
	if err := retryDefinite(ctx, func() error { return writer.Put(ctx, "k", []byte("v"), Session{}) }); err != nil {
		t.Fatalf("write with a write token: %v", err)
	}
	byCert := NewClientWithOptions(base, ClientOptions{TLS: withCert})
	if err := retryDefinite(ctx, func() error { return byCert.Put(ctx, "c", []byte("v"), Session{}) }); err != nil {
		t.Fatalf("write with a client certificate: %v", err)
	}
	anon := NewClientWithOptions(base, ClientOptions{TLS: trust})
	var se *StatusError
	if err := anon.Put(ctx, "k", []byte("x"), Session{}); !errors.As(err, &se) || se.Code != 401 {
		t.Fatalf("anonymous write: %v, want 401", err)
	}
	if err := procs[0].client.Put(ctx, "k", []byte("x"), Session{}); !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("write with a read token: %v, want 403", err)
	}
	if v, err := anon.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("open read: %q %v", v, err)
	}
	// /security states the mode.
	resp, err := anon.hc.Get(base + "/security")
	if err != nil {
		t.Fatal(err)
	}
	var sec Security
	_ = json.NewDecoder(resp.Body).Decode(&sec)
	resp.Body.Close()
	if sec.Raft != "mutual-tls" || sec.HTTP != "https" || !strings.Contains(sec.Auth, "3 tokens") {
		t.Fatalf("/security = %+v", sec)
	}
	// Plain HTTP to the HTTPS port is not served.
	plain := NewClient("http://"+web[0], nil)
	if _, err := plain.Get(ctx, "k"); err == nil {
		t.Fatal("plain HTTP got an answer from the HTTPS listener")
	}
	// Oversize headers.
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/kv/k", nil)
	req.Header.Set("X-Junk", strings.Repeat("j", 16<<10))
	resp, err = anon.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("16 KiB header with a 4 KiB limit (net/http allows 4 KiB of slack): %d", resp.StatusCode)
	}
}

// TestLimitListener: with the limit reached, the next connection is not
// served until one closes.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-accepted
	<-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted with a limit of 2")
	case <-time.After(100 * time.Millisecond):
	}
	first.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("closing a connection did not free a slot")
	}
}
