package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// AdminError is a refused or failed administrative request: Code is the
// HTTP status (400 bad request, 409 must wait, 503 not the leader, 504
// unknown outcome), Leader the leader's ID when the node knows it.
type AdminError struct {
	Code     int
	Msg      string
	Definite bool
	Leader   uint64
}

func (e *AdminError) Error() string {
	s := "HTTP " + strconv.Itoa(e.Code) + ": " + e.Msg
	if !e.Definite {
		s += " (the change may still take effect)"
	}
	return s
}

// NotLeader reports whether err says the node asked is not the leader.
func NotLeader(err error) (leader uint64, ok bool) {
	var ae *AdminError
	if errors.As(err, &ae) && ae.Code == http.StatusServiceUnavailable && ae.Definite {
		return ae.Leader, true
	}
	return 0, false
}

// Members fetches GET /admin/members.
func (c *Client) Members(ctx context.Context) (Members, error) {
	var m Members
	err := c.admin(ctx, http.MethodGet, AdminPrefix+"members", nil, &m)
	return m, err
}

// AddMember adds id (reachable at addr) as a voter, or as a learner.
func (c *Client) AddMember(ctx context.Context, id uint64, addr string, learner bool) (ConfResponse, error) {
	var r ConfResponse
	err := c.admin(ctx, http.MethodPost, AdminPrefix+"members", AddRequest{ID: id, Addr: addr, Learner: learner}, &r)
	return r, err
}

// Promote makes the learner id a voter.
func (c *Client) Promote(ctx context.Context, id uint64) (ConfResponse, error) {
	var r ConfResponse
	err := c.admin(ctx, http.MethodPost, AdminPrefix+"members/"+strconv.FormatUint(id, 10)+"/promote", nil, &r)
	return r, err
}

// Demote makes the voter id a learner (through a joint configuration;
// answered once it is left).
func (c *Client) Demote(ctx context.Context, id uint64) (ConfResponse, error) {
	var r ConfResponse
	err := c.admin(ctx, http.MethodPost, AdminPrefix+"members/"+strconv.FormatUint(id, 10)+"/demote", nil, &r)
	return r, err
}

// RemoveMember removes id (voter or learner).
func (c *Client) RemoveMember(ctx context.Context, id uint64) (ConfResponse, error) {
	var r ConfResponse
	err := c.admin(ctx, http.MethodDelete, AdminPrefix+"members/"+strconv.FormatUint(id, 10), nil, &r)
	return r, err
}

// ChangeConf makes several changes at once (joint consensus).
func (c *Client) ChangeConf(ctx context.Context, req ConfRequest) (ConfResponse, error) {
	var r ConfResponse
	err := c.admin(ctx, http.MethodPost, AdminPrefix+"conf", req, &r)
	return r, err
}

// Transfer hands leadership to the voter to and waits until it leads.
func (c *Client) Transfer(ctx context.Context, to uint64) error {
	return c.admin(ctx, http.MethodPost, AdminPrefix+"transfer", TransferRequest{To: to}, nil)
}

func (c *Client) admin(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	resp, err := c.do(ctx, method, path, body, Session{})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(b, &eb) != nil {
			eb.Error = string(b)
		}
		return &AdminError{Code: resp.StatusCode, Msg: eb.Error, Definite: eb.Definite, Leader: eb.Leader}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
