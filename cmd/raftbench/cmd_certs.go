package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/engine/runtime/mtls"
)

func init() { addCommand(newCertsCmd()) }

func newCertsCmd() *cobra.Command {
	var (
		dir, hosts string
		nodes      int
		clients    []string
		validity   time.Duration
		force      bool
		tokens     bool
	)
	c := &cobra.Command{
		Use:   "certs",
		Short: "Generate a development CA, node and client certificates (and tokens)",
		Long: `certs writes a development PKI for 'raftbench serve --tls-dir':

  ca.pem, ca-key.pem               the cluster CA (keep ca-key.pem private)
  node-<id>.pem, node-<id>-key.pem one per node, identity raftbench://node/<id>
  client-<name>.pem, -key.pem      one per --client, identity raftbench://client/<name>
  tokens                           with --tokens: "admin ops <token>" and
                                   "write app <token>" for --auth-tokens

Node IDs are 1..--nodes; serve numbers nodes by sorting the --peers names, so
n1,n2,n3 are nodes 1,2,3. ECDSA P-256 keys, standard library only. If ca.pem
and ca-key.pem already exist, they sign the new certificates (to add a node or
replace an expiring certificate; running nodes reload on SIGHUP or by watching
the files). Keys are written 0600. This is a development CA: for production,
issue certificates with the same URI identities from your own CA.`,
		Example: `  raftbench certs --dir certs --nodes 3 --client app --tokens`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 0 || nodes > 1000 {
				return &exitError{code: 2, err: fmt.Errorf("certs: --nodes %d: want 0..1000", nodes)}
			}
			o := mtls.DevOptions{Clients: clients, Validity: validity, Force: force}
			for i := 1; i <= nodes; i++ {
				o.Nodes = append(o.Nodes, uint64(i))
			}
			if hosts != "" {
				o.Hosts = strings.Split(hosts, ",")
			}
			if _, err := os.Stat(mtls.CAKeyFile(dir)); err == nil {
				ca, err := mtls.LoadCA(mtls.CAFile(dir), mtls.CAKeyFile(dir))
				if err != nil {
					return fmt.Errorf("certs: existing CA: %w", err)
				}
				o.CA = ca
				fmt.Fprintf(cmd.OutOrStdout(), "using the existing CA in %s\n", dir)
				if !force { // issue only what is missing (adding a node)
					o.Nodes, o.Clients = missingNodes(dir, o.Nodes), missingClients(dir, o.Clients)
				}
			}
			paths, err := mtls.WriteDev(dir, o)
			for _, p := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), "wrote", p)
			}
			if err != nil {
				return fmt.Errorf("certs: %w", err)
			}
			if tokens {
				p := filepath.Join(dir, "tokens")
				if _, err := os.Stat(p); err == nil && !force {
					return fmt.Errorf("certs: %s exists (use --force to overwrite)", p)
				}
				var b strings.Builder
				b.WriteString("# role name token (for serve --auth-tokens; give clients the token only)\n")
				for _, e := range [][2]string{{"admin", "ops"}, {"write", "app"}, {"read", "dashboard"}} {
					fmt.Fprintf(&b, "%s %s %s\n", e[0], e[1], randomToken())
				}
				if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
					return fmt.Errorf("certs: %w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "wrote", p)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", "certs", "output directory (created 0700)")
	f.IntVar(&nodes, "nodes", 3, "issue node certificates for IDs 1..N")
	f.StringSliceVar(&clients, "client", nil, "issue a client certificate for this name (repeatable)")
	f.StringVar(&hosts, "hosts", "", "comma-separated IPs/DNS names in node certificates (default 127.0.0.1,::1,localhost)")
	f.DurationVar(&validity, "validity", 365*24*time.Hour, "certificate lifetime")
	f.BoolVar(&force, "force", false, "overwrite existing files")
	f.BoolVar(&tokens, "tokens", false, "also write a token file with admin, write and read tokens")
	return c
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic("certs: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func missingNodes(dir string, ids []uint64) []uint64 {
	var out []uint64
	for _, id := range ids {
		if _, err := os.Stat(mtls.NodeFiles(dir, id).Cert); err != nil {
			out = append(out, id)
		}
	}
	return out
}

func missingClients(dir string, names []string) []string {
	var out []string
	for _, n := range names {
		if _, err := os.Stat(mtls.ClientFiles(dir, n).Cert); err != nil {
			out = append(out, n)
		}
	}
	return out
}
