# raftbench. Only Go is needed; every other dependency comes from go.mod.
GO        ?= go
BIN       := bin
GOFLAGS_T ?=
# -race costs ~5-10x CPU; we run it on the packages where concurrency lives
# and where the runtime stays affordable on 2 cores.
RACE_PKGS := ./wal/... ./engine/runtime/node/... ./engine/runtime/mtls/... ./engine/embed/cluster/... ./engine/embed/httpapi/... ./engine/runtime/transport/... \
             ./engine/embed/kv/... ./chaos/check/... ./chaos/harness/... ./maelstrom/... ./bench/...

.PHONY: all build lint test test-race test-short bench chaos chaos-teeth sim results fuzz clean vet explore membership membership-sim chaos-membership chaos-security

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/raftbench ./cmd/raftbench
	$(GO) build -o $(BIN)/raft-maelstrom ./cmd/raft-maelstrom

vet:
	$(GO) vet ./...

# Static analysis beyond vet: staticcheck (a tool dependency in go.mod, so
# its version is pinned and checksummed like any module), over the default
# build and the raftbugs build (the injected bugs' code). Findings fail the
# suite; an intended exception carries a //lint:ignore comment saying why.
lint:
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags raftbugs ./...

# The whole suite: vet, staticcheck, every package's tests, the race
# detector on the concurrent packages, and the simulator with each known Raft
# bug switched on (build tag raftbugs: every bug must be caught), and the core
# and simulator with 8-entry in-memory log blocks (build tag smalllogblocks:
# block boundaries crossed all the time). CI (.ci/run) calls this.
test: build vet lint
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)
	$(GO) test -count=1 -tags raftbugs -timeout 10m ./engine/ ./chaos/sim/ ./chaos/explore/
	$(GO) test -count=1 -tags smalllogblocks -timeout 10m ./engine/ ./chaos/sim/
	$(GO) test -count=1 -tags raftbugs -timeout 5m -run Failure ./ui/

# The main job: a 3-node in-process cluster, fsync on, 64 clients,
# 128-byte values, ~30 s, live progress line, summary table and plots in
# results/latest/. `make bench UI=127.0.0.1:8080` also serves the live view.
bench: build
	$(BIN)/raftbench run --target inproc --nodes 3 --clients 64 --value-bytes 128 \
		--warmup 3s --duration 30s --out results/latest $(if $(UI),--ui $(UI))

chaos: build
	./scripts/chaos.sh

# Membership on real serve processes: the grow/shrink run under
# `raftbench run --target tcp` with a checked history (results/membership),
# then the membership nemesis (joins, promotions, removals, transfers,
# kill -9) for 60 s. About 4 minutes.
membership:
	RAFTBENCH_MEMBERSHIP_OUT=$(CURDIR)/results/membership $(GO) test -count=1 -run TestMembershipMeasure -v -timeout 10m ./engine/embed/httpapi
	RAFTBENCH_MEMBERSHIP_NEMESIS=60s $(GO) test -count=1 -run TestMembershipNemesis -v -timeout 10m ./engine/embed/httpapi

# The membership bugs with the simulator's append-time rule checks off
# (only end-to-end invariants judge), 3000 seeds each, about 1 minute;
# then `raftbench chaos` with the membership nemesis beside partitions and
# kills on raft-maelstrom for 60 s (results/membership/chaos).
membership-sim:
	SIM_MEMBERSHIP_SEEDS=3000 SIM_MEMBERSHIP_TABLE=$(CURDIR)/results/membership/sim/consequences.md $(GO) test -count=1 -tags raftbugs -run TestMembershipBugsConsequences -v -timeout 30m ./chaos/sim/

chaos-membership: build
	$(BIN)/raftbench chaos --bin $(BIN)/raft-maelstrom --nodes 5 --time 60s --quiet 5s --nemesis membership,partition,kill --nemesis-interval 3s --latency 2ms --seed 1 --out $(CURDIR)/results/membership/chaos

# The chaos harness's detection table (broken designs caught, correct
# nodes passed): results/chaos/teeth.md, about 30 minutes.
chaos-teeth:
	./scripts/chaos-teeth.sh

# Process-level faults on serve (plain and secure) and raft-maelstrom, lease
# reads within and beyond their clock bound: results/security/, about 6 min.
chaos-security: build
	./scripts/chaos-security.sh

sim: build
	$(BIN)/raftbench sim --seeds 10000

results: build
	./scripts/results.sh

# The explorer's published runs (results/explore.md): the goal state space,
# every known bug's shortest counterexample, and the simulator's shrink table.
explore: build
	./scripts/explore.sh

fuzz:
	./scripts/fuzz.sh

clean:
	rm -rf $(BIN)

# The performance goals' figures on a quiet machine, about 35 minutes:
# results/perf-goals/summary.md (scripts/perf-goals.sh says what runs).
.PHONY: perf-goals
perf-goals: build
	./scripts/perf-goals.sh

# Where latency goes (waits for a P, long runs, GC, the worst buckets), from
# execution traces, about 2 minutes on a quiet machine:
# results/latency-attribution/ (scripts/latency-attribution.sh says what runs).
.PHONY: latency-attribution
latency-attribution: build
	./scripts/latency-attribution.sh

# One write's critical path, hop by hop (leader, followers, WALs, acks,
# commit, apply), at 1/16/64 clients beside the disk floor, about 1.5
# minutes on a quiet machine: results/latency-attribution/critical-path.md.
.PHONY: critical-path
critical-path: build
	./scripts/critical-path.sh

# The open loop's p99 at half of saturation, and where it comes from (the
# disk floor at that rate, a trace, the critical path, alternating runs of
# candidate settings, the candidate in the closed loop), about 5 minutes on a
# quiet machine:
# results/open-loop/README.md (scripts/open-loop-p99.sh says what runs).
.PHONY: open-loop-p99
open-loop-p99: build
	./scripts/open-loop-p99.sh

# Every system (ours, both peers, the floor target) on a modelled disk whose
# fsyncs are a fixed wait that never stalls, default mix and write-only, about
# 15 minutes on a quiet machine: results/model-compare/summary.md
# (scripts/model-compare.sh says what runs).
.PHONY: model-compare
model-compare: build
	./scripts/model-compare.sh

# The 1-client goals per kind of operation (write, read, cas): ours and both
# peers at 1 client, default mix and write-only, repeats interleaved, the
# disk floor's one write before and after, about 3 minutes on a quiet
# machine: results/one-client/summary.md.
.PHONY: one-client
one-client: build
	./scripts/one-client.sh

# Our p99 / p99.9 against both peers' where the tail goal was missed
# (default mix at 1 and 16 clients, write-only 1M keys at 16 and 64),
# repeats interleaved, with the disk floor's tails and stalls at the same
# concurrency, and preallocated WAL segments A/B'd at 16 clients, about 6.5
# minutes on a quiet machine: results/tails/summary.md.
.PHONY: tails
tails: build
	./scripts/tails.sh
