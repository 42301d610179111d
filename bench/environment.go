package bench

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Environment describes the machine a result was measured on, beside
// Summary's commit, Go version and CPU count: enough to tell whether two
// results are comparable. Fields the machine does not expose stay empty.
type Environment struct {
	CPUModel string `json:"cpu_model,omitempty"`
	CPUs     int    `json:"cpus"`
	Kernel   string `json:"kernel,omitempty"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Go       string `json:"go"`
	Commit   string `json:"commit"`
	// DataDir is where the target's data went; Filesystem, Device and
	// Rotational describe the mount holding it (from /proc/self/mountinfo
	// and /sys/block).
	DataDir    string `json:"data_dir,omitempty"`
	Filesystem string `json:"filesystem,omitempty"`
	Device     string `json:"device,omitempty"`
	Rotational *bool  `json:"rotational,omitempty"`
}

// DescribeEnvironment reads the environment, with the disk of dataDir
// ("" = the system temporary directory).
func DescribeEnvironment(dataDir string) Environment {
	if dataDir == "" {
		dataDir = os.TempDir()
	}
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	e := Environment{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version(), Commit: gitCommit(), DataDir: dataDir}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				e.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	e.Filesystem, e.Device = mountOf(dataDir)
	if dev := strings.TrimPrefix(e.Device, "/dev/"); dev != e.Device && dev != "" {
		for _, name := range []string{dev, strings.TrimRight(dev, "0123456789"), strings.TrimSuffix(strings.TrimRight(dev, "0123456789"), "p")} {
			if b, err := os.ReadFile(filepath.Join("/sys/block", name, "queue", "rotational")); err == nil {
				r := strings.TrimSpace(string(b)) == "1"
				e.Rotational = &r
				break
			}
		}
	}
	return e
}

// mountOf returns the file system type and source of the mount holding
// path: the longest mount point that is a prefix of it.
func mountOf(path string) (fstype, source string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", ""
	}
	defer f.Close()
	best := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 2 {
			continue
		}
		mp := a[4]
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, fstype, source = len(mp), b[0], b[1]
		}
	}
	return fstype, source
}

// String is a one-line description for tables.
func (e Environment) String() string {
	parts := []string{}
	if e.CPUModel != "" {
		parts = append(parts, e.CPUModel)
	}
	parts = append(parts, itoa(e.CPUs)+" CPUs", e.OS+"/"+e.Arch)
	if e.Kernel != "" {
		parts = append(parts, "kernel "+e.Kernel)
	}
	parts = append(parts, e.Go, "commit "+e.Commit)
	if e.Filesystem != "" {
		disk := "data on " + e.Filesystem
		if e.Device != "" {
			disk += " (" + e.Device
			if e.Rotational != nil {
				if *e.Rotational {
					disk += ", rotational"
				} else {
					disk += ", non-rotational"
				}
			}
			disk += ")"
		}
		parts = append(parts, disk)
	}
	return strings.Join(parts, ", ")
}
