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

// The core must stay a pure state machine (DESIGN.md, issue 3): no clock,
// no I/O, no locks, no global randomness, no goroutines, and no imports
// of adapter packages of this module.
const modulePath = "github.com/raftbench/raftbench"

var (
	forbiddenImports = map[string]bool{
		"time": true, "os": true, "os/exec": true, "net": true, "sync": true,
		"sync/atomic": true, "math/rand": true, "math/rand/v2": true, "unsafe": true,
	}
	allowedModuleImports = map[string]bool{
		modulePath + "/engine/raftpb":  true,
		modulePath + "/engine/quorum":  true,
		modulePath + "/engine/tracker": true,
	}
	lintedDirs = []string{".", "quorum", "tracker", "raftpb"}
)

// lintSource returns the rule violations in one Go source file.
func lintSource(name string, src []byte) ([]string, error) {
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
		case strings.HasPrefix(path, modulePath) && !allowedModuleImports[path]:
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

func TestCorePackagesArePure(t *testing.T) {
	checked := 0
	for _, dir := range lintedDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue // tests may use the OS (this one reads files)
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			problems, err := lintSource(file, src)
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
		t.Fatalf("only %d files checked: is the test running in the engine directory?", checked)
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
		{"adapter", `package x; import "github.com/raftbench/raftbench/engine/node"; var _ = node.X`},
		{"wal", `package x; import _ "github.com/raftbench/raftbench/wal"`},
		{"go statement", `package x; func f() { go func() {}() }`},
	} {
		problems, err := lintSource(tc.name+".go", []byte(tc.src))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(problems) == 0 {
			t.Errorf("%s: lint accepted forbidden source", tc.name)
		}
	}
	ok := `package x; import ("fmt"; "github.com/raftbench/raftbench/engine/raftpb"); var _ = fmt.Sprint; var _ raftpb.Entry`
	if problems, err := lintSource("ok.go", []byte(ok)); err != nil || len(problems) > 0 {
		t.Errorf("lint rejected clean source: %v %v", problems, err)
	}
}
