package bench

import (
	"runtime"
	"strings"
	"testing"
)

func TestDescribeEnvironment(t *testing.T) {
	e := DescribeEnvironment(t.TempDir())
	if e.CPUs != runtime.NumCPU() || e.Go != runtime.Version() || e.Commit == "" || e.DataDir == "" {
		t.Fatalf("environment %+v", e)
	}
	if runtime.GOOS == "linux" && (e.Kernel == "" || e.Filesystem == "") {
		t.Errorf("linux environment without kernel or file system: %+v", e)
	}
	if s := e.String(); !strings.Contains(s, "CPUs") || !strings.Contains(s, e.Go) {
		t.Errorf("String() = %q", s)
	}
}
