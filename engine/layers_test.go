package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The layer table: the one place that says which module package sits
// where (engine/doc.go, "Layers", explains it in prose). It lives in the
// core's tests because the core is the layer everything else rests on,
// and because this package already hosts the purity lint, which reads its
// package set from here. Order is bottom to top: a package may import
// module packages of its own layer or of a layer listed before it, never
// one listed after it.
//
// A path ending in "/..." covers that folder and everything below it;
// any other path names exactly one package. A package the table does not
// name fails TestEveryPackageHasALayer: a new package is classified on
// purpose, never by default.
var layerTable = []layer{
	{
		name: "core",
		why:  "the deterministic Raft state machine and its wire types",
		pkgs: []string{"engine/raftpb", "engine/quorum", "engine/tracker", "engine"},
		pure: true,
	},
	{
		name: "storage",
		why:  "the write-ahead log beside the core; it stores the core's wire types and knows nothing of its state machine",
		pkgs: []string{"wal", "wal/errorfs"},
	},
	{
		name: "driver",
		why:  "policy between the core's Ready and the world (persist queue, acks, apply cursor, sessions), with no goroutines or I/O of its own",
		pkgs: []string{"engine/driver"},
		pure: true,
	},
	{
		name: "runtime",
		why:  "goroutines and real I/O around the driver: the node loop and the transports (the NATS transport and its embedded test broker are transports too: real I/O, no knowledge of the node; localports picks loopback addresses for the local processes the tools start)",
		pkgs: []string{"engine/runtime/node", "engine/runtime/localports", "engine/runtime/mtls", "engine/runtime/testfaults", "engine/runtime/transport", "engine/runtime/transport/nats", "engine/runtime/transport/nats/natsserver"},
	},
	{
		name: "embedding",
		why:  "what a user runs the runtime in: the kv state machine, the in-process cluster, the HTTP server, the Maelstrom adapter",
		pkgs: []string{"engine/embed/kv", "engine/embed/cluster", "engine/embed/httpapi", "maelstrom"},
	},
	{
		name: "tools",
		why:  "the load generator, its targets and reports, the fault-injection harness and the simulator",
		pkgs: []string{"bench/...", "chaos/...", "ui"},
	},
	{
		name: "commands",
		why:  "main packages; nothing can import them",
		pkgs: []string{"cmd/..."},
	},
}

// onlyImports narrows what some packages may import from the module,
// below what their layer would allow. Each entry says why.
var onlyImports = map[string]struct {
	pkgs []string
	why  string
}{
	"engine/embed/kv": {nil, "the state machine is shared by every bench target, the peer libraries' included, so it must not pull in the engine"},
	"wal":             {[]string{"engine/raftpb"}, "the log stores entries and hard states in wire form; knowing the core's state machine would tie the core's tests to one log"},
}

// layerExceptions are module imports allowed against the layer order.
// Each must say why; there are none today, and a new one needs a reason
// that a reviewer accepts (usually the right fix is to move code down).
var layerExceptions = []layerEdge{}

// pureMayImport lists the module packages outside the pure layers that a
// pure package may import anyway, because it uses only their plain types.
var pureMayImport = map[string][]string{
	// The driver may name the log's types (a write, its errors) in the
	// storage interface it is given; the lint still keeps clocks, locks,
	// goroutines and syscalls out of its own code.
	"engine/driver": {"wal"},
}

type layer struct {
	name string
	why  string
	pkgs []string // module-relative paths; "x/..." covers x and below
	pure bool     // the purity lint (lint_test.go) checks its packages
}

// layerEdge is one allowed import, from and to module-relative paths.
type layerEdge struct {
	from, to string
	why      string
}

// modulePackage is one module package as `go list` reports it, cut to
// what the layer check needs. Paths are module-relative ("engine/runtime/node";
// "." for the module root).
type modulePackage struct {
	path    string
	dir     string
	imports []string // module packages imported by non-test files
}

// layerOf returns the index of the layer holding path in table, or -1.
func layerOf(table []layer, path string) int {
	for i, l := range table {
		for _, p := range l.pkgs {
			if p == path {
				return i
			}
			if base, ok := strings.CutSuffix(p, "/..."); ok && (path == base || strings.HasPrefix(path, base+"/")) {
				return i
			}
		}
	}
	return -1
}

// checkLayers returns every rule broken by pkgs under table, narrowed by
// only and widened by exceptions: a package in no layer, an import of a
// package in no layer, an import of a higher layer, an import outside a
// package's onlyImports.
func checkLayers(table []layer, only map[string]struct {
	pkgs []string
	why  string
}, exceptions []layerEdge, pkgs []modulePackage) []string {
	var problems []string
	for _, p := range pkgs {
		from := layerOf(table, p.path)
		if from < 0 {
			problems = append(problems, fmt.Sprintf("package %s is in no layer: add it to layerTable in engine/layers_test.go "+
				"(and to the Layers section of engine/doc.go), in the lowest layer whose packages it needs; layers, bottom first: %s",
				p.path, describeLayers(table)))
			continue
		}
		for _, imp := range p.imports {
			if excepted(exceptions, p.path, imp) {
				continue
			}
			to := layerOf(table, imp)
			switch {
			case to < 0:
				problems = append(problems, fmt.Sprintf("%s imports %s, which is in no layer (classify it in layerTable)", p.path, imp))
			case to > from:
				problems = append(problems, fmt.Sprintf("%s (layer %s) imports %s (layer %s): a layer may import only its own and lower layers",
					p.path, table[from].name, imp, table[to].name))
			}
			if o, ok := only[p.path]; ok && !contains(o.pkgs, imp) {
				problems = append(problems, fmt.Sprintf("%s imports %s, but may import only %v from the module: %s", p.path, imp, o.pkgs, o.why))
			}
		}
	}
	return problems
}

// describeLayers lists the layers, bottom first, with what each holds.
func describeLayers(table []layer) string {
	parts := make([]string, len(table))
	for i, l := range table {
		parts[i] = l.name + " (" + l.why + ")"
	}
	return strings.Join(parts, "; ")
}

func excepted(exceptions []layerEdge, from, to string) bool {
	for _, e := range exceptions {
		if e.from == from && e.to == to {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// listedPackages runs `go list` once per test binary and caches the result.
var listedPackages = sync.OnceValues(listModulePackages)

// listModulePackages lists the module's packages with their module
// imports. It lists twice, without and with the raftbugs build tag, and
// takes the union, so an import in a tagged-out file is checked too.
// Only imports of non-test files count: tests may use higher layers as
// their harness (engine/runtime/node's tests run an engine/embed/cluster), and Go's
// cycle rule keeps such imports out of the package itself.
func listModulePackages() ([]modulePackage, error) {
	root, err := goOutput("", "env", "GOMOD")
	if err != nil {
		return nil, err
	}
	root = filepath.Dir(strings.TrimSpace(root))
	byPath := map[string]*modulePackage{}
	var order []string
	for _, tags := range []string{"", "raftbugs"} {
		out, err := goOutput(root, "list", "-e", "-deps", "-json", "-tags="+tags, "./...")
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(strings.NewReader(out))
		for {
			var lp struct {
				ImportPath string
				Dir        string
				Imports    []string
				Module     *struct{ Main bool }
				Error      *struct{ Err string }
			}
			if err := dec.Decode(&lp); err == io.EOF {
				break
			} else if err != nil {
				return nil, fmt.Errorf("go list output: %w", err)
			}
			if lp.Module == nil || !lp.Module.Main {
				continue // the standard library and third-party modules
			}
			if lp.Error != nil {
				return nil, fmt.Errorf("go list: %s: %s", lp.ImportPath, lp.Error.Err)
			}
			rel := relPath(lp.ImportPath)
			p := byPath[rel]
			if p == nil {
				p = &modulePackage{path: rel, dir: lp.Dir}
				byPath[rel] = p
				order = append(order, rel)
			}
			for _, imp := range lp.Imports {
				if isModulePath(imp) && !contains(p.imports, relPath(imp)) {
					p.imports = append(p.imports, relPath(imp))
				}
			}
		}
	}
	sort.Strings(order)
	pkgs := make([]modulePackage, 0, len(order))
	for _, rel := range order {
		pkgs = append(pkgs, *byPath[rel])
	}
	return pkgs, nil
}

func goOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func isModulePath(p string) bool { return p == modulePath || strings.HasPrefix(p, modulePath+"/") }

func relPath(p string) string {
	if p == modulePath {
		return "."
	}
	return strings.TrimPrefix(p, modulePath+"/")
}

func modulePackages(t *testing.T) []modulePackage {
	t.Helper()
	pkgs, err := listedPackages()
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d module packages: is it running inside the module?", len(pkgs))
	}
	return pkgs
}

// TestEveryPackageHasALayer checks the module as built against the layer
// table: every package classified, every import downward or sideways.
func TestEveryPackageHasALayer(t *testing.T) {
	for _, p := range checkLayers(layerTable, onlyImports, layerExceptions, modulePackages(t)) {
		t.Error(p)
	}
}

// TestLayerTableIsSound keeps the table itself honest: no package in two
// layers, and every rule that names a package names one the table holds.
func TestLayerTableIsSound(t *testing.T) {
	seen := map[string]string{}
	for _, l := range layerTable {
		for _, p := range l.pkgs {
			if prev, ok := seen[p]; ok {
				t.Errorf("%s is in layers %s and %s", p, prev, l.name)
			}
			seen[p] = l.name
		}
	}
	named := []string{}
	for p, o := range onlyImports {
		named = append(named, p)
		named = append(named, o.pkgs...)
	}
	for p, imps := range pureMayImport {
		named = append(named, p)
		named = append(named, imps...)
	}
	for _, e := range layerExceptions {
		if e.why == "" {
			t.Errorf("exception %s -> %s gives no reason", e.from, e.to)
		}
		named = append(named, e.from, e.to)
	}
	for _, p := range named {
		if layerOf(layerTable, p) < 0 {
			t.Errorf("a rule names %s, which is in no layer", p)
		}
	}
}

// TestLayerCheckCatchesViolations feeds checkLayers a made-up module and
// expects each kind of violation to be reported, and nothing else.
func TestLayerCheckCatchesViolations(t *testing.T) {
	table := []layer{
		{name: "low", pkgs: []string{"a", "a/b"}},
		{name: "mid", pkgs: []string{"m"}},
		{name: "top", pkgs: []string{"t/..."}},
	}
	only := map[string]struct {
		pkgs []string
		why  string
	}{"a/b": {nil, "leaf"}}
	exceptions := []layerEdge{{from: "m", to: "t/x", why: "test of the exception mechanism"}}
	pkgs := []modulePackage{
		{path: "a"},
		{path: "a/b", imports: []string{"a"}},                // breaks only: a/b may import nothing
		{path: "m", imports: []string{"a", "t/x", "t/y"}},    // t/x excepted; t/y is upward
		{path: "t/deep/z", imports: []string{"m", "a", "t"}}, // fine: lower layers and its own
		{path: "new"},                                        // in no layer
		{path: "t", imports: []string{"ghost"}},              // imports a package in no layer
	}
	got := checkLayers(table, only, exceptions, pkgs)
	want := []string{
		"a/b imports a, but may import only",
		"m (layer mid) imports t/y (layer top)",
		"package new is in no layer: add it to layerTable",
		"t imports ghost, which is in no layer",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want it to start with %q", i, got[i], want[i])
		}
	}

	// The real table must reject the classic mistakes.
	for _, tc := range []struct{ from, to string }{
		{"engine", "engine/runtime/node"}, // core reaching up to the runtime
		{"engine", "wal"},                 // core reaching into storage
		{"engine/driver", "engine/runtime/node"},
		{"engine/runtime/node", "engine/embed/httpapi"},
		{"engine/embed/kv", "engine"}, // the state machine must stay a leaf
		{"wal", "engine"},             // storage must not know the core's state machine
		{"maelstrom", "bench"},
	} {
		if len(checkLayers(layerTable, onlyImports, layerExceptions, []modulePackage{{path: tc.from, imports: []string{tc.to}}})) == 0 {
			t.Errorf("the layer table allows %s to import %s", tc.from, tc.to)
		}
	}
}
