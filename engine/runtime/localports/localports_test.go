package localports

import (
	"net"
	"strconv"
	"testing"
)

// TestPickIsBelowEphemeralAndDistinct: every address is 127.0.0.1, below
// the ephemeral range, bindable, and never handed out twice, across calls.
func TestPickIsBelowEphemeralAndDistinct(t *testing.T) {
	hi := ephemeralStart()
	seen := map[string]bool{}
	for round := 0; round < 20; round++ {
		addrs, err := Pick(5)
		if err != nil {
			t.Fatal(err)
		}
		if len(addrs) != 5 {
			t.Fatalf("got %d addresses, want 5", len(addrs))
		}
		for _, a := range addrs {
			host, p, err := net.SplitHostPort(a)
			if err != nil || host != "127.0.0.1" {
				t.Fatalf("address %q: want 127.0.0.1:port", a)
			}
			port, _ := strconv.Atoi(p)
			if port < lowestPort || port >= hi {
				t.Fatalf("port %d outside [%d, %d)", port, lowestPort, hi)
			}
			if seen[a] {
				t.Fatalf("address %s handed out twice", a)
			}
			seen[a] = true
			ln, err := net.Listen("tcp", a)
			if err != nil {
				t.Fatalf("picked %s but cannot bind it: %v", a, err)
			}
			ln.Close()
		}
	}
}

// TestPickSkipsPortsInUse: a port someone listens on is never returned.
func TestPickSkipsPortsInUse(t *testing.T) {
	addrs, err := Pick(1)
	if err != nil {
		t.Fatal(err)
	}
	// Occupy a block of ports below the range; none may come back.
	busy := map[string]bool{}
	var lns []net.Listener
	for port := lowestPort; port < lowestPort+200; port++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		busy[ln.Addr().String()] = true
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for i := 0; i < 50; i++ {
		got, err := Pick(3)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range got {
			if busy[a] || a == addrs[0] {
				t.Fatalf("Pick returned %s, which is in use", a)
			}
		}
	}
}

func TestPickRejectsBadCount(t *testing.T) {
	if _, err := Pick(0); err == nil {
		t.Fatal("Pick(0) gave no error")
	}
}
