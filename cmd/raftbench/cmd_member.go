package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftbench/raftbench/engine/embed/httpapi"
)

func init() { addCommand(newMemberCmd()) }

// memberOpts are the flags every member subcommand shares.
type memberOpts struct {
	endpoints []string
	timeout   time.Duration
	wait      time.Duration
}

func newMemberCmd() *cobra.Command {
	var o memberOpts
	c := &cobra.Command{
		Use:   "member",
		Short: "List and change the members of a running serve cluster",
		Long: `member talks to the admin API (/admin/...) of a raftbench serve cluster.

Changes must be made on the leader: member tries each --endpoint in turn
until one is the leader. A change is reported once it is applied on the
leader. Exit status: 0 done, 2 refused as a bad request (nothing changed),
1 anything else (see the message: a timeout means the change may still
take effect).

  list                 the configuration: each member's role, address, log position
  add ID ADDR          add a voter reachable at ADDR (its Raft host:port)
  add-learner ID ADDR  add a non-voting member; promote it once it has caught up
  promote ID           make a learner a voter (refused until it is within the
                       leader's lag bound; --wait retries for that long)
  demote ID            make a voter a learner, through a joint configuration (the
                       leader too: it leads until that is left, then steps down)
  remove ID            remove a voter or learner (the leader too: it steps down)
  transfer ID          hand leadership to voter ID`,
		Example: `  raftbench member list --endpoint http://127.0.0.1:8001
  raftbench member add-learner 4 127.0.0.1:7004 --endpoint http://127.0.0.1:8001,http://127.0.0.1:8002
  raftbench member promote 4 --wait 30s --endpoint http://127.0.0.1:8001
  raftbench member remove 1 --endpoint http://127.0.0.1:8001`,
	}
	pf := c.PersistentFlags()
	pf.StringSliceVar(&o.endpoints, "endpoint", nil, "HTTP URL(s) of cluster members, comma-separated (required)")
	pf.DurationVar(&o.timeout, "timeout", 30*time.Second, "bound on each request")
	pf.DurationVar(&o.wait, "wait", 0, "promote: keep retrying while the learner has not caught up, up to this long")

	run := func(use, short string, nargs int, f func(ctx context.Context, c *httpapi.Client, args []uint64, addr string) (any, error)) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(nargs),
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(o.endpoints) == 0 {
					return &exitError{code: 2, err: errors.New("member: --endpoint is required")}
				}
				var ids []uint64
				var addr string
				for i, a := range args {
					if i == 1 {
						addr = a
						continue
					}
					id, err := strconv.ParseUint(a, 10, 64)
					if err != nil || id == 0 {
						return &exitError{code: 2, err: fmt.Errorf("member %s: node ID %q: want a positive integer", cmd.Name(), a)}
					}
					ids = append(ids, id)
				}
				out, err := o.onLeader(cmd.Context(), func(ctx context.Context, c *httpapi.Client) (any, error) { return f(ctx, c, ids, addr) })
				var ae *httpapi.AdminError
				if errors.As(err, &ae) && ae.Code == http.StatusBadRequest {
					return &exitError{code: 2, err: fmt.Errorf("member %s: refused: %s", cmd.Name(), ae.Msg)}
				}
				if err != nil {
					return fmt.Errorf("member %s: %w", cmd.Name(), err)
				}
				printMemberResult(cmd.Name(), out)
				return nil
			},
		}
	}
	list := run("list", "Show the configuration and every member", 0, func(ctx context.Context, c *httpapi.Client, _ []uint64, _ string) (any, error) {
		return c.Members(ctx)
	})
	// list may be answered by any member: no leader needed.
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		if len(o.endpoints) == 0 {
			return &exitError{code: 2, err: errors.New("member: --endpoint is required")}
		}
		var errs []error
		for _, u := range o.endpoints {
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			m, err := httpapi.NewClient(u, nil).Members(ctx)
			cancel()
			if err == nil {
				printMemberResult("list", m)
				return nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
		}
		return fmt.Errorf("member list: %w", errors.Join(errs...))
	}
	c.AddCommand(list,
		run("add ID ADDR", "Add a voter", 2, func(ctx context.Context, c *httpapi.Client, ids []uint64, addr string) (any, error) {
			return c.AddMember(ctx, ids[0], addr, false)
		}),
		run("add-learner ID ADDR", "Add a learner", 2, func(ctx context.Context, c *httpapi.Client, ids []uint64, addr string) (any, error) {
			return c.AddMember(ctx, ids[0], addr, true)
		}),
		run("promote ID", "Make a caught-up learner a voter", 1, func(ctx context.Context, c *httpapi.Client, ids []uint64, _ string) (any, error) {
			deadline := time.Now().Add(o.wait)
			for {
				r, err := c.Promote(ctx, ids[0])
				var ae *httpapi.AdminError
				if !errors.As(err, &ae) || ae.Code != http.StatusConflict || time.Now().After(deadline) {
					return r, err
				}
				time.Sleep(100 * time.Millisecond)
			}
		}),
		run("demote ID", "Make a voter a learner", 1, func(ctx context.Context, c *httpapi.Client, ids []uint64, _ string) (any, error) {
			return c.Demote(ctx, ids[0])
		}),
		run("remove ID", "Remove a member", 1, func(ctx context.Context, c *httpapi.Client, ids []uint64, _ string) (any, error) {
			return c.RemoveMember(ctx, ids[0])
		}),
		run("transfer ID", "Hand leadership to a voter", 1, func(ctx context.Context, c *httpapi.Client, ids []uint64, _ string) (any, error) {
			return fmt.Sprintf("leader is now %d", ids[0]), c.Transfer(ctx, ids[0])
		}),
	)
	return c
}

// onLeader runs f against each endpoint until one is not refused for not
// being the leader.
func (o *memberOpts) onLeader(parent context.Context, f func(context.Context, *httpapi.Client) (any, error)) (any, error) {
	var errs []error
	for _, u := range o.endpoints {
		ctx, cancel := context.WithTimeout(parent, o.timeout+o.wait)
		out, err := f(ctx, httpapi.NewClient(u, nil))
		cancel()
		if err == nil {
			return out, nil
		}
		if _, notLeader := httpapi.NotLeader(err); notLeader || httpapi.NotSent(err) {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		return nil, err
	}
	return nil, fmt.Errorf("no endpoint is the leader: %w", errors.Join(errs...))
}

func printMemberResult(cmd string, out any) {
	switch v := out.(type) {
	case httpapi.Members:
		fmt.Println(v.String())
		tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tADDR\tMATCH")
		for _, m := range v.Members {
			match := "-"
			if m.Match != nil {
				match = strconv.FormatUint(*m.Match, 10)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", m.ID, m.Role, m.Addr, match)
		}
		tw.Flush()
	case httpapi.ConfResponse:
		s := fmt.Sprintf("%s done: voters %v", cmd, v.Voters)
		if v.Joint {
			s += fmt.Sprintf(" (joint with %v)", v.VotersOutgoing)
		}
		if len(v.Learners) > 0 {
			s += fmt.Sprintf(", learners %v", v.Learners)
		}
		fmt.Println(s)
	default:
		fmt.Println(v)
	}
}
