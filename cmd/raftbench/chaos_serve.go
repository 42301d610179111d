package main

import (
	"fmt"
	"os"

	"github.com/raftbench/raftbench/chaos/harness"
)

// applyServeTarget sets cfg up for `chaos --serve plain|secure`: serve
// processes of this binary (unless --bin was given) with their WAL in
// --data.
func applyServeTarget(cfg *harness.Config, target string, binGiven bool) error {
	switch target {
	case "":
		return nil
	case "plain":
		cfg.Serve = &harness.ServeTarget{}
	case "secure":
		cfg.Serve = &harness.ServeTarget{Secure: true}
	default:
		return fmt.Errorf("--serve %q: want plain or secure", target)
	}
	if !binGiven {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--serve: finding this binary: %w (give --bin)", err)
		}
		cfg.Bin = self
	}
	return nil
}
