// Package bench is raftbench's load generator.
package bench
