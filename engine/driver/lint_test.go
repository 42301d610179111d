package driver

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestNoGoroutinesClocksOrIO keeps the driver policy only (doc.go): no
// goroutines, no clock, no locks, no files or network, no randomness,
// and of this module only the core and its message types.
func TestNoGoroutinesClocksOrIO(t *testing.T) {
	forbidden := map[string]bool{
		"time": true, "os": true, "os/exec": true, "net": true, "net/http": true, "io/fs": true,
		"sync": true, "sync/atomic": true, "math/rand": true, "math/rand/v2": true, "unsafe": true,
	}
	const module = "github.com/raftbench/raftbench/"
	allowed := map[string]bool{module + "engine": true, module + "engine/raftpb": true}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case forbidden[path]:
				t.Errorf("%s imports %q: the driver has no clock, locks, I/O or randomness of its own", name, path)
			case strings.HasPrefix(path, module) && !allowed[path]:
				t.Errorf("%s imports %q: the driver sits right above the core and knows no other package of this module", name, path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: go statement at %v: the driver starts no goroutines", name, fset.Position(g.Pos()))
			}
			return true
		})
	}
}
