package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// profiles are the files --cpuprofile, --trace and --memprofile name. The
// CPU profile and trace files are created before the run, so a bad path
// fails at once; both start when the load starts (after --preload, whose
// writes of every key would otherwise be half of a preloaded run's
// profile at a million keys) and stop when it ends, and the allocation
// profile is written then.
type profiles struct {
	memPath string
	cpu, tr *os.File
	started bool
}

func openProfiles(cpuPath, memPath, tracePath string) (*profiles, error) {
	p := &profiles{memPath: memPath}
	var err error
	if tracePath != "" {
		if p.tr, err = os.Create(tracePath); err != nil {
			return nil, fmt.Errorf("--trace: %w", err)
		}
	}
	if cpuPath != "" {
		if p.cpu, err = os.Create(cpuPath); err != nil {
			if p.tr != nil {
				p.tr.Close()
			}
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	return p, nil
}

// start begins the execution trace and the CPU profile (each if asked).
func (p *profiles) start() error {
	if p.tr != nil {
		if err := trace.Start(p.tr); err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
	}
	if p.cpu != nil {
		if err := pprof.StartCPUProfile(p.cpu); err != nil {
			if p.tr != nil {
				trace.Stop()
			}
			return fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	p.started = true
	return nil
}

// stop ends what start began, closes the files and writes the allocation
// profile (if asked); it is also the cleanup of a run that never started.
func (p *profiles) stop() error {
	var errs []error
	if p.tr != nil {
		if p.started {
			trace.Stop()
		}
		if err := p.tr.Close(); err != nil {
			errs = append(errs, fmt.Errorf("--trace: %w", err))
		}
	}
	if p.cpu != nil {
		if p.started {
			pprof.StopCPUProfile()
		}
		if err := p.cpu.Close(); err != nil {
			errs = append(errs, fmt.Errorf("--cpuprofile: %w", err))
		}
	}
	if p.memPath != "" {
		errs = append(errs, writeAllocProfile(p.memPath))
	}
	return errors.Join(errs...)
}

func writeAllocProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	runtime.GC() // up-to-date statistics
	err = pprof.Lookup("allocs").WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	return nil
}
