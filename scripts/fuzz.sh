#!/usr/bin/env bash
# Runs every go test -fuzz target in the module for FUZZTIME each
# (default 30s); FUZZPARALLEL bounds the workers. The committed seed corpora also run in plain `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-30s}"
# FUZZPARALLEL=n limits fuzz workers (default GOMAXPROCS).
par=()
if [[ -n "${FUZZPARALLEL:-}" ]]; then par=(-parallel "$FUZZPARALLEL"); fi
mapfile -t pkgs < <(go list ./...)
status=0
for pkg in "${pkgs[@]}"; do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	mapfile -t targets < <(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u)
	for t in "${targets[@]}"; do
		echo "== $pkg $t ($FUZZTIME)"
		go test "$pkg" -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5s "${par[@]}" || status=1
	done
done
exit $status
