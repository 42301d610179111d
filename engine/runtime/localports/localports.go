package localports

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowestPort is the bottom of the range Pick draws from: above the
// well-known and commonly configured service ports.
const lowestPort = 20000

// defaultEphemeralStart is where the ephemeral range starts when the
// kernel cannot be asked (Linux's default; other systems start higher,
// so the range below it is safe there too).
const defaultEphemeralStart = 32768

var (
	mu   sync.Mutex
	used = map[int]bool{} // ports handed out by this process, never reused
)

// Pick returns n distinct 127.0.0.1 addresses ("127.0.0.1:port") whose
// ports lie below the ephemeral range, each bound and released once to
// check that nobody listens on it. Ports already handed out by this
// process are never returned again.
func Pick(n int) ([]string, error) {
	if n < 1 {
		return nil, fmt.Errorf("localports: asked for %d ports, want at least 1", n)
	}
	hi := ephemeralStart()
	span := hi - lowestPort
	if span < n {
		return nil, fmt.Errorf("localports: only %d ports below the ephemeral range (starting at %d)", span, hi)
	}
	mu.Lock()
	defer mu.Unlock()
	var out []string
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	start := rand.IntN(span)
	for i := 0; i < span && len(out) < n; i++ {
		port := lowestPort + (start+i)%span
		if used[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // someone listens there (or just closed it): try the next
		}
		held = append(held, ln) // held until all n are found, so they are distinct
		used[port] = true
		out = append(out, ln.Addr().String())
	}
	if len(out) < n {
		return nil, errors.New("localports: no free port left below the ephemeral range")
	}
	return out, nil
}

// ephemeralStart is the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralStart
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return defaultEphemeralStart
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo <= lowestPort {
		return defaultEphemeralStart
	}
	return lo
}
