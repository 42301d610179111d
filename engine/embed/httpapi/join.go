package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// joinState is what a node that joined a running cluster needs to
// restart without asking it again: its ID, the cluster's bootstrap
// configuration (the one its log starts from) and the members'
// addresses. It is written to the data directory (beside the WAL, once
// the WAL exists) on the first join.
type joinState struct {
	ID              uint64            `json:"id"`
	BootstrapVoters []uint64          `json:"bootstrap_voters"`
	Peers           map[uint64]string `json:"peers"`
	fresh           bool              // fetched now, not yet saved
}

// save writes js to the data directory if it was fetched now.
func (js joinState) save(dir string) error {
	if !js.fresh {
		return nil
	}
	b, _ := json.Marshal(js)
	return os.WriteFile(filepath.Join(dir, joinFile), b, 0o644)
}

const joinFile = "join.json"

// prepareJoin returns the join state: from the data directory after a
// restart, else from the first of urls that answers GET /admin/members.
// The node's ID is id if non-zero, else one above every ID the cluster
// knows.
func prepareJoin(ctx context.Context, dir string, urls []string, id uint64, log *slog.Logger) (joinState, error) {
	path := filepath.Join(dir, joinFile)
	if b, err := os.ReadFile(path); err == nil {
		var js joinState
		if err := json.Unmarshal(b, &js); err != nil || js.ID == 0 || len(js.BootstrapVoters) == 0 {
			return js, fmt.Errorf("%s is corrupt (%v); remove the data directory to join afresh", path, err)
		}
		if id != 0 && id != js.ID {
			return js, fmt.Errorf("--node-id %d, but %s says this node joined as %d", id, path, js.ID)
		}
		return js, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return joinState{}, err
	}
	var errs []error
	for _, u := range urls {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := NewClient(u, nil).Members(cctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		js := joinState{ID: id, BootstrapVoters: m.BootstrapVoters, Peers: m.Peers}
		if js.ID == 0 {
			for pid := range m.Peers {
				js.ID = max(js.ID, pid)
			}
			for _, v := range slices.Concat(m.Voters, m.VotersOutgoing, m.Learners) {
				js.ID = max(js.ID, v)
			}
			js.ID++
		}
		if len(js.BootstrapVoters) == 0 {
			return js, fmt.Errorf("%s reported no bootstrap configuration", u)
		}
		js.fresh = true
		log.Info("joining", "via", u, "id", js.ID, "bootstrap_voters", js.BootstrapVoters)
		return js, nil
	}
	return joinState{}, fmt.Errorf("--join: no member answered: %w", errors.Join(errs...))
}

// addSelf asks the cluster, through whichever of urls is the leader, to
// add this node as a learner at raftAddr; it retries until that is done
// (or this node already is a member) or ctx ends.
func addSelf(ctx context.Context, urls []string, id uint64, raftAddr string, log *slog.Logger) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		for _, u := range urls {
			c := NewClient(u, nil)
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := c.AddMember(cctx, id, raftAddr, true)
			cancel()
			var ae *AdminError
			switch {
			case err == nil:
				log.Info("added to the cluster as a learner", "via", u, "id", id)
				return
			case errors.As(err, &ae) && ae.Code == 400 && strings.Contains(ae.Msg, "already"):
				log.Info("already a member", "id", id)
				return
			case errors.As(err, &ae) && ae.Code == 400:
				log.Error("cluster refused to add this node", "via", u, "err", err)
				return
			}
			if _, ok := NotLeader(err); !ok {
				log.Warn("join: add learner failed; retrying", "via", u, "err", err)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second)):
		}
	}
}
