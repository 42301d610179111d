# raftbench. Only Go is needed; every other dependency comes from go.mod.
GO        ?= go
BIN       := bin
GOFLAGS_T ?=
# -race costs ~5-10x CPU; we run it on the packages where concurrency lives
# and where the runtime stays affordable on 2 cores.
RACE_PKGS := ./wal/... ./engine/runtime/node/... ./engine/runtime/mtls/... ./engine/embed/cluster/... ./engine/embed/httpapi/... ./engine/runtime/transport/... \
             ./engine/embed/kv/... ./chaos/check/... ./chaos/harness/... ./maelstrom/... ./bench/...

.PHONY: all build test test-race test-short bench chaos chaos-teeth sim results fuzz clean vet

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/raftbench ./cmd/raftbench
	$(GO) build -o $(BIN)/raft-maelstrom ./cmd/raft-maelstrom

vet:
	$(GO) vet ./...

# The whole suite: vet, every package's tests, the race detector on the
# concurrent packages, and the simulator with each known Raft bug switched on
# (build tag raftbugs: every bug must be caught). CI (.ci/run) calls this.
test: build vet
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)
	$(GO) test -count=1 -tags raftbugs -timeout 10m ./engine/ ./chaos/sim/

# The main job: a 3-node in-process cluster, fsync on, 64 clients,
# 128-byte values, ~30 s, live progress line, summary table and plots in
# results/latest/.
bench: build
	$(BIN)/raftbench run --target inproc --nodes 3 --clients 64 --value-bytes 128 \
		--warmup 3s --duration 30s --out results/latest

chaos: build
	./scripts/chaos.sh

# The chaos harness's detection table (broken designs caught, correct
# nodes passed): results/chaos/teeth.md, about 30 minutes.
chaos-teeth:
	./scripts/chaos-teeth.sh

sim: build
	$(BIN)/raftbench sim --seeds 10000

results: build
	./scripts/results.sh

fuzz:
	./scripts/fuzz.sh

clean:
	rm -rf $(BIN)
