package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/localports"
)

// proc is one `raftbench serve` process.
type proc struct {
	name, http string
	args       []string
	cmd        *exec.Cmd
	logPath    string
	client     *Client
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := localports.Pick(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// startServeProcs starts one `raftbench serve` process per address in
// web, named n1, n2, ..., each with its own data directory and log in dir
// and the extra flags that cluster(name) returns; they are killed (and
// their logs shown if the test failed) when the test ends.
func startServeProcs(t *testing.T, bin, dir string, web []string, cluster func(name string) []string) []*proc {
	t.Helper()
	procs := make([]*proc, len(web))
	for i := range procs {
		name := fmt.Sprintf("n%d", i+1)
		args := append([]string{"serve", "--id", name}, cluster(name)...)
		procs[i] = &proc{name: name, http: web[i], logPath: filepath.Join(dir, name+".log"),
			client: NewClient("http://"+web[i], nil),
			args:   append(args, "--data", filepath.Join(dir, name), "--http", web[i], "--log-level", "warn")}
		procs[i].start(t, bin)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
		}
		if t.Failed() {
			for _, p := range procs {
				b, _ := os.ReadFile(p.logPath)
				t.Logf("--- %s log:\n%s", p.name, b)
			}
		}
	})
	return procs
}

func (p *proc) start(t *testing.T, bin string) {
	t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func(cmd *exec.Cmd, f *os.File) { cmd.Wait(); f.Close() }(p.cmd, logf)
}

func (p *proc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
}

// The raftbench binary is built once per test binary run (the process
// tests share it) and removed by TestMain.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "raftbench-httpapi-test-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "raftbench")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/raftbench/raftbench/cmd/raftbench").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// TestThreeProcessTCPCluster runs three `raftbench serve` processes on
// loopback, drives them over HTTP, kill -9s the leader, restarts it on
// its data directory and checks that acknowledged writes survive.
func TestThreeProcessTCPCluster(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("needs kill -9 semantics")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	raft, web := freePorts(t, 3), freePorts(t, 3)
	var peers []string
	for i := range raft {
		peers = append(peers, fmt.Sprintf("n%d=%s", i+1, raft[i]))
	}
	procs := startServeProcs(t, bin, dir, web, func(name string) []string {
		return []string{"--peers", strings.Join(peers, ",")}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	leader := waitProcLeader(t, ctx, procs, nil)
	acked := map[string]string{}
	put := func(p *proc, k, v string) {
		t.Helper()
		if err := retryDefinite(ctx, func() error { return p.client.Put(ctx, k, []byte(v), Session{}) }); err != nil {
			t.Fatalf("%s: put %s: %v", p.name, k, err)
		}
		acked[k] = v
	}
	for i := 0; i < 30; i++ {
		put(procs[i%3], fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)) // followers forward
	}
	checkCAS(t, ctx, procs[(leader+1)%3])
	acked["c"] = "2"

	// kill -9 the leader; the others elect a new one and keep serving.
	procs[leader].kill()
	survivors := []*proc{}
	for i, p := range procs {
		if i != leader {
			survivors = append(survivors, p)
		}
	}
	newLeader := waitProcLeader(t, ctx, survivors, procs[leader])
	for i := 30; i < 45; i++ {
		put(survivors[i%2], fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	// Restart it on its data directory: it recovers and catches up.
	procs[leader].start(t, bin)
	waitFor(t, ctx, "restarted node to catch up", func() bool {
		st, err := procs[leader].client.Status(ctx)
		return err == nil && st.Leader != 0 && st.Applied >= 45
	})
	for _, p := range procs {
		for k, v := range acked {
			var got []byte
			err := retryDefinite(ctx, func() (err error) { got, err = p.client.Get(ctx, k); return err })
			if err != nil || string(got) != v {
				t.Fatalf("%s: acknowledged %s=%s reads %q, %v", p.name, k, v, got, err)
			}
		}
	}
	checkMetrics(t, "http://"+survivors[newLeader].http+"/metrics")
}

func checkCAS(t *testing.T, ctx context.Context, p *proc) {
	t.Helper()
	if err := p.client.Cas(ctx, "c", "", "1", true, Session{}); err != nil {
		t.Fatalf("cas create: %v", err)
	}
	if err := p.client.Cas(ctx, "c", "0", "2", false, Session{}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("cas mismatch: %v", err)
	}
	if err := p.client.Cas(ctx, "c", "1", "2", false, Session{ClientID: 5, Seq: 1}); err != nil {
		t.Fatalf("cas: %v", err)
	}
	if err := p.client.Cas(ctx, "c", "1", "2", false, Session{ClientID: 5, Seq: 1}); err != nil {
		t.Fatalf("retried cas must get the first answer: %v", err)
	}
	if _, err := p.client.Get(ctx, "zzz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
}

// retryDefinite retries while the server says the operation definitely
// did not happen (503: no leader yet, busy) or the connection failed.
func retryDefinite(ctx context.Context, op func() error) error {
	for {
		err := op()
		var se *StatusError
		var ne net.Error
		var oe *net.OpError
		retry := (errors.As(err, &se) && se.Code == http.StatusServiceUnavailable) ||
			errors.As(err, &oe) || (errors.As(err, &ne) && !ne.Timeout()) || errors.Is(err, io.EOF)
		if !retry || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitProcLeader returns the index (in procs) of the node every live
// process agrees leads; not must not be it.
func waitProcLeader(t *testing.T, ctx context.Context, procs []*proc, not *proc) int {
	t.Helper()
	idx := -1
	waitFor(t, ctx, "an agreed leader", func() bool {
		var lead uint64
		idx = -1
		for i, p := range procs {
			st, err := p.client.Status(ctx)
			if err != nil || st.Leader == 0 || (lead != 0 && st.Leader != lead) {
				return false
			}
			lead = st.Leader
			if st.RoleName == "leader" {
				idx = i
			}
		}
		return idx >= 0 && procs[idx] != not
	})
	return idx
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
