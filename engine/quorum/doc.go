// Package quorum is the majority math of Raft: the commit index implied by
// a set of match indexes (Raft §5.3, §5.4.2) and the outcome of a vote
// tally (§5.2).
//
// Contract: every function is pure and allocation-free for clusters of up
// to MaxStackVoters voters; results depend only on the arguments.
//
// It must never know about terms, logs or messages (the §5.4.2 "current
// term only" rule is the caller's), and never import time, os, net, sync
// or math/rand.
package quorum
