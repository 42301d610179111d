package engine

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The pure layers (layerTable entries with pure set: the core and the
// driver) must stay deterministic state machines: no clock, no I/O, no
// locks, no global randomness, no goroutines (engine/doc.go). Their module
// imports are limited to pure packages of their own or lower layers, plus
// pureMayImport.
const modulePath = "github.com/raftbench/raftbench"

var forbiddenImports = map[string]bool{
	"time": true, "os": true, "os/exec": true, "net": true, "sync": true,
	"sync/atomic": true, "math/rand": true, "math/rand/v2": true, "unsafe": true,
}

// pureImportRule returns, for the pure package at module-relative path
// rel, whether it may import module package imp (an import path).
func pureImportRule(rel string) func(imp string) bool {
	self := layerOf(layerTable, rel)
	return func(imp string) bool {
		to := relPath(imp)
		if contains(pureMayImport[rel], to) {
			return true
		}
		l := layerOf(layerTable, to)
		return l >= 0 && l <= self && layerTable[l].pure
	}
}

// lintSource returns the rule violations in one Go source file.
// mayImport says which module packages the file may import.
func lintSource(name string, src []byte, mayImport func(imp string) bool) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		switch {
		case forbiddenImports[path], strings.HasPrefix(path, "net/"):
			problems = append(problems, fmt.Sprintf("%s: imports %q", fset.Position(imp.Pos()), path))
		case isModulePath(path) && !mayImport(path):
			problems = append(problems, fmt.Sprintf("%s: imports module package %q", fset.Position(imp.Pos()), path))
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if g, ok := n.(*ast.GoStmt); ok {
			problems = append(problems, fmt.Sprintf("%s: go statement", fset.Position(g.Pos())))
		}
		return true
	})
	return problems, nil
}

// TestPurePackagesArePure lints every non-test file (whatever its build
// tags) of every package in a pure layer. The package set comes from the
// layer table and `go list`, so a new pure package is linted as soon as
// it is classified. A pure layer's package that does not exist yet (the
// table may name one before it is written) is simply not there to check.
func TestPurePackagesArePure(t *testing.T) {
	checked := 0
	for _, p := range modulePackages(t) {
		l := layerOf(layerTable, p.path)
		if l < 0 || !layerTable[l].pure {
			continue
		}
		files, err := filepath.Glob(filepath.Join(p.dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue // tests may use the OS (this one runs go list)
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			problems, err := lintSource(file, src, pureImportRule(p.path))
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			for _, p := range problems {
				t.Error(p)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d files checked: did go list find the core packages?", checked)
	}
}

// TestLintRejects proves the lint catches each kind of violation.
func TestLintRejects(t *testing.T) {
	for _, tc := range []struct{ name, src string }{
		{"time", `package x; import "time"; var _ = time.Now`},
		{"os", `package x; import "os"; var _ = os.Exit`},
		{"os/exec", `package x; import "os/exec"; var _ = exec.Command`},
		{"net", `package x; import "net"; var _ net.Conn`},
		{"net/http", `package x; import "net/http"; var _ = http.Get`},
		{"sync", `package x; import "sync"; var _ sync.Mutex`},
		{"math/rand", `package x; import "math/rand"; var _ = rand.Int`},
		{"math/rand/v2", `package x; import r "math/rand/v2"; var _ = r.Int`},
		{"adapter", `package x; import "github.com/raftbench/raftbench/engine/runtime/node"; var _ = node.X`},
		{"wal", `package x; import _ "github.com/raftbench/raftbench/wal"`},
		{"go statement", `package x; func f() { go func() {}() }`},
	} {
		problems, err := lintSource(tc.name+".go", []byte(tc.src), pureImportRule("engine"))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(problems) == 0 {
			t.Errorf("%s: lint accepted forbidden source", tc.name)
		}
	}
	ok := `package x; import ("fmt"; "github.com/raftbench/raftbench/engine/raftpb"); var _ = fmt.Sprint; var _ raftpb.Entry`
	if problems, err := lintSource("ok.go", []byte(ok), pureImportRule("engine")); err != nil || len(problems) > 0 {
		t.Errorf("lint rejected clean source: %v %v", problems, err)
	}

	// The driver may use the core and the wal's types, but not the runtime.
	driver := pureImportRule("engine/driver")
	for imp, want := range map[string]bool{
		modulePath + "/engine":               true,
		modulePath + "/engine/raftpb":        true,
		modulePath + "/wal":                  true,
		modulePath + "/engine/runtime/node":  false,
		modulePath + "/engine/embed/kv":      false,
		modulePath + "/engine/embed/cluster": false,
	} {
		if got := driver(imp); got != want {
			t.Errorf("driver may import %s = %v, want %v", imp, got, want)
		}
	}
	if pureImportRule("engine")(modulePath + "/engine/driver") {
		t.Error("the core may import the driver")
	}
}
