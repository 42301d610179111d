// Command raft-maelstrom is a Maelstrom lin-kv node backed by the
// raftbench engine.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "raft-maelstrom: not built yet (see issue: Maelstrom node binary)")
	os.Exit(2)
}
