// Command raft-maelstrom is a Maelstrom lin-kv node backed by the
// raftbench engine. Run it under Maelstrom:
//
//	maelstrom test -w lin-kv --bin ./bin/raft-maelstrom --node-count 5 \
//	    --time-limit 60 --rate 100 --concurrency 10 --nemesis partition
//
// or under raftbench's own harness: raftbench chaos --bin bin/raft-maelstrom.
package main
