package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/engine/embed/httpapi"
)

// securityFlags are serve's TLS, authentication and listener limits.
type securityFlags struct {
	tlsDir         string
	tlsWatch       time.Duration
	tokens         string
	clientCertRole string
	protectReads   bool
	protectMetrics bool
	protectUI      bool
	limits         httpapi.Limits
}

func (s *securityFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&s.tlsDir, "tls-dir", "", "directory written by 'raftbench certs': mutual TLS between nodes and HTTPS for the API (empty: plain, benchmarks only)")
	f.DurationVar(&s.tlsWatch, "tls-watch", 10*time.Second, "with --tls-dir: check the certificate files this often and reload them when they change (0: only on SIGHUP)")
	f.StringVar(&s.tokens, "auth-tokens", "", `token file, one "role name token" per line (role: read, write or admin); writes and /admin/ then need a token`)
	f.StringVar(&s.clientCertRole, "client-cert-role", "", "role granted to a verified client certificate (read, write or admin; empty: certificates grant nothing)")
	f.BoolVar(&s.protectReads, "protect-reads", false, "reads and /status need at least a read token too")
	f.BoolVar(&s.protectMetrics, "protect-metrics", false, "/metrics needs at least a read token (default open, as Prometheus scrapers expect)")
	f.BoolVar(&s.protectUI, "protect-ui", false, "/ui/ needs at least a read token")
	f.IntVar(&s.limits.MaxConns, "max-conns", httpapi.DefaultMaxConns, "HTTP: maximum open connections")
	f.IntVar(&s.limits.MaxHeaderBytes, "max-header-bytes", httpapi.DefaultMaxHeaderBytes, "HTTP: maximum request header bytes")
	f.DurationVar(&s.limits.ReadHeaderTimeout, "read-header-timeout", httpapi.DefaultReadHeaderTimeout, "HTTP: time allowed to send the request headers")
	f.DurationVar(&s.limits.ReadTimeout, "read-timeout", httpapi.DefaultReadTimeout, "HTTP: time allowed to send a whole request")
	f.DurationVar(&s.limits.IdleTimeout, "idle-timeout", httpapi.DefaultIdleTimeout, "HTTP: keep-alive connections idle longer are closed")
	f.DurationVar(&s.limits.WriteTimeout, "write-timeout", httpapi.DefaultWriteTimeout, "HTTP: time allowed from a request's headers to the end of its answer")
}

func (s *securityFlags) apply(cfg *httpapi.ServeConfig) error {
	cfg.TLSDir, cfg.Limits = s.tlsDir, s.limits
	if s.tlsDir != "" {
		cfg.TLSWatch = s.tlsWatch
	}
	var role httpapi.Role
	if s.clientCertRole != "" {
		var err error
		if role, err = httpapi.ParseRole(s.clientCertRole); err != nil {
			return errors.New("--client-cert-role: " + err.Error())
		}
		if s.tlsDir == "" {
			return errors.New("--client-cert-role needs --tls-dir")
		}
	}
	if s.tokens == "" && role == httpapi.RoleNone {
		if s.protectReads || s.protectMetrics || s.protectUI {
			return errors.New("--protect-* needs --auth-tokens or --client-cert-role")
		}
		return nil
	}
	pol := &httpapi.AuthPolicy{ClientCertRole: role, ProtectReads: s.protectReads, ProtectMetrics: s.protectMetrics, ProtectUI: s.protectUI}
	if s.tokens != "" {
		toks, err := httpapi.LoadTokens(s.tokens)
		if err != nil {
			return errors.New("--auth-tokens: " + err.Error())
		}
		pol.Tokens = toks
	}
	cfg.Auth = pol
	return nil
}

// reloadOnSIGHUP turns SIGHUP into reload requests until ctx ends.
func reloadOnSIGHUP(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
