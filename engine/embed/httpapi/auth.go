package httpapi

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/raftbench/raftbench/engine/runtime/mtls"
)

// Authentication and authorization of the HTTP API: a middleware that
// classifies each request by route (RouteClass), finds who is calling (a
// bearer token or, over HTTPS, a client certificate signed by the
// cluster CA) and checks the caller's role against what the class
// needs. Routes added later fit by prefix: /admin/... is admin,
// /ui/... is ui.

// RouteClass is what a request does, for the policy.
type RouteClass uint8

// Route classes.
const (
	ClassRead    RouteClass = iota // GET/HEAD /kv/..., /status, /security
	ClassWrite                     // any other method on /kv/...
	ClassAdmin                     // /admin/... (membership, leadership)
	ClassMetrics                   // /metrics
	ClassUI                        // /ui/...
)

func (c RouteClass) String() string {
	return [...]string{"read", "write", "admin", "metrics", "ui"}[c]
}

// Classify maps a request to its class. Unknown paths count as writes,
// so a route nobody classified is protected rather than open.
func Classify(r *http.Request) RouteClass {
	p := r.URL.Path
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case p == "/admin" || strings.HasPrefix(p, "/admin/"):
		return ClassAdmin
	case p == "/metrics":
		return ClassMetrics
	case p == "/ui" || strings.HasPrefix(p, "/ui/"):
		return ClassUI
	case safe && (p == "/status" || p == "/security" || strings.HasPrefix(p, "/kv/")):
		return ClassRead
	}
	return ClassWrite
}

// Role is what a caller may do: each role includes the ones below it.
type Role uint8

// Roles.
const (
	RoleNone  Role = iota
	RoleRead       // reads, status, metrics, ui
	RoleWrite      // and writes
	RoleAdmin      // and /admin/
)

func (r Role) String() string { return [...]string{"none", "read", "write", "admin"}[r] }

// ParseRole parses "read", "write" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("role %q: want read, write or admin", s)
}

// AuthPolicy says who may do what. Writes and admin always need a
// caller with the role; reads, metrics and ui are open unless their
// flag says otherwise.
type AuthPolicy struct {
	// Tokens maps a token's SHA-256 to its holder (the token itself is
	// never kept or logged).
	Tokens map[[sha256.Size]byte]Principal
	// ClientCertRole is granted to a caller presenting a verified client
	// certificate (raftbench://client/<name>); RoleNone ignores them. A
	// node certificate (raftbench://node/<id>) gets RoleAdmin: nodes and
	// their operators hold the cluster's keys anyway.
	ClientCertRole Role
	// ProtectReads, ProtectMetrics and ProtectUI make those classes need
	// RoleRead.
	ProtectReads, ProtectMetrics, ProtectUI bool
}

// Principal is an authenticated caller.
type Principal struct {
	Name string // token name from the token file, or the certificate identity
	Role Role
}

// needs returns the role a class requires (RoleNone: open).
func (p *AuthPolicy) needs(c RouteClass) Role {
	switch c {
	case ClassWrite:
		return RoleWrite
	case ClassAdmin:
		return RoleAdmin
	case ClassRead:
		if p.ProtectReads {
			return RoleRead
		}
	case ClassMetrics:
		if p.ProtectMetrics {
			return RoleRead
		}
	case ClassUI:
		if p.ProtectUI {
			return RoleRead
		}
	}
	return RoleNone
}

// LoadTokens reads a token file: one "role name token" per line; blank
// lines and lines starting with # are skipped. Tokens must be at least
// 16 characters and unique.
func LoadTokens(path string) (map[[sha256.Size]byte]Principal, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	return ParseTokens(f, path)
}

// ParseTokens parses the token file format (see LoadTokens); name is
// used in errors. Errors never quote a token.
func ParseTokens(r io.Reader, name string) (map[[sha256.Size]byte]Principal, error) {
	out := map[[sha256.Size]byte]Principal{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		fields := strings.Fields(s)
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: want \"role name token\", got %d fields", name, line, len(fields))
		}
		role, err := ParseRole(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		if len(fields[2]) < 16 {
			return nil, fmt.Errorf("%s:%d: token of %q is shorter than 16 characters", name, line, fields[1])
		}
		h := sha256.Sum256([]byte(fields[2]))
		if _, dup := out[h]; dup {
			return nil, fmt.Errorf("%s:%d: token of %q is also another entry's", name, line, fields[1])
		}
		out[h] = Principal{Name: fields[1], Role: role}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no tokens", name)
	}
	return out, nil
}

var errBadScheme = errors.New(`the Authorization header must be "Bearer <token>"`)

// authenticate finds the caller: a bearer token wins over a certificate.
// ok false with an error means credentials were offered but are bad.
func (p *AuthPolicy) authenticate(r *http.Request) (Principal, bool, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, cut := strings.Cut(h, " ")
		if !cut || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return Principal{}, false, errBadScheme
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		// Look the hash up by constant-time comparison over every entry,
		// so timing says nothing about how close a guess came.
		var found *Principal
		for k, pr := range p.Tokens {
			if subtle.ConstantTimeCompare(k[:], sum[:]) == 1 {
				found = &pr
			}
		}
		if found == nil {
			return Principal{}, false, errors.New("unknown bearer token")
		}
		return *found, true, nil
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		id, err := mtls.IdentityOf(r.TLS.VerifiedChains[0][0])
		if err != nil {
			return Principal{}, false, err
		}
		switch {
		case id.Node != 0:
			return Principal{Name: id.String(), Role: RoleAdmin}, true, nil
		case p.ClientCertRole != RoleNone:
			return Principal{Name: id.String(), Role: p.ClientCertRole}, true, nil
		}
	}
	return Principal{}, false, nil
}

// Protect wraps h with the policy: 401 (with WWW-Authenticate) when a
// protected route is called without valid credentials, 403 when the
// caller's role is too low. Both answer the usual JSON error body with
// definite=true (nothing was done). Log lines name the principal and
// never the token.
func Protect(h http.Handler, p *AuthPolicy, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		class := Classify(r)
		need := p.needs(class)
		if need == RoleNone {
			h.ServeHTTP(w, r)
			return
		}
		who, ok, err := p.authenticate(r)
		if !ok {
			msg := fmt.Sprintf("authentication required for %s requests: send \"Authorization: Bearer <token>\" or a client certificate", class)
			if err != nil {
				msg = fmt.Sprintf("authentication failed for %s request: %v", class, err)
			}
			log.Warn("httpapi: unauthenticated request refused", "class", class.String(), "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", errString(err))
			w.Header().Set("WWW-Authenticate", `Bearer realm="raftbench"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: msg, Definite: true})
			return
		}
		if who.Role < need {
			log.Warn("httpapi: request forbidden", "principal", who.Name, "role", who.Role.String(), "class", class.String(), "method", r.Method, "path", r.URL.Path)
			writeJSON(w, http.StatusForbidden, errorBody{
				Error: fmt.Sprintf("%s may not make %s requests: role %s, needs %s", who.Name, class, who.Role, need), Definite: true})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func errString(err error) string {
	if err == nil {
		return "no credentials"
	}
	return err.Error()
}
