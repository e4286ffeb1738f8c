package nodeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// defaultHTTP is used when Client.HTTP is nil: unlike http.DefaultClient it gives up on a manager that
// stops answering.
var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// Client calls the node API of a stream manager.
type Client struct {
	BaseURL string // the manager, e.g. http://manager:5080
	Secret  string // the cluster secret
	// HTTP is the client to use; nil means one with a 10 s timeout.
	HTTP *http.Client
}

// Register announces the node and returns the id the manager gave it.
func (c *Client) Register(ctx context.Context, req RegisterRequest) (RegisterResponse, error) {
	var resp RegisterResponse
	err := c.call(ctx, PathRegister, req, &resp)
	return resp, err
}

// Report sends the node's load and returns its assignment. An error wrapping ErrUnknownNode means the
// node must register again.
func (c *Client) Report(ctx context.Context, req ReportRequest) (ReportResponse, error) {
	var resp ReportResponse
	err := c.call(ctx, PathReport, req, &resp)
	return resp, err
}

// StreamEvent tells the manager that a stream started or ended.
func (c *Client) StreamEvent(ctx context.Context, ev StreamEvent) error {
	return c.call(ctx, PathStream, ev, nil)
}

// Ladder returns the adaptive ladder provisioned for a stream (Found false: none).
func (c *Client) Ladder(ctx context.Context, req LadderRequest) (LadderResponse, error) {
	var resp LadderResponse
	err := c.call(ctx, PathLadder, req, &resp)
	return resp, err
}

// Origin asks which origin a stream belongs to (see OriginRequest).
func (c *Client) Origin(ctx context.Context, req OriginRequest) (OriginResponse, error) {
	var resp OriginResponse
	err := c.call(ctx, PathOrigin, req, &resp)
	return resp, err
}

// Parent asks for the parent of an edge or relay that has none; an error wrapping ErrUnavailable means
// there is none to give yet.
func (c *Client) Parent(ctx context.Context, req ParentRequest) (ParentResponse, error) {
	var resp ParentResponse
	err := c.call(ctx, PathParent, req, &resp)
	return resp, err
}

// call POSTs in to path and decodes the answer into out (nil: no body expected). A non-2xx answer
// is an *Error.
func (c *Client) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encoding %s request: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building %s request: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Secret)
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: %w", path, readError(resp))
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodyBytes))
		return nil
	}
	// not strict: a newer manager may answer with fields this node does not know yet
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxBodyBytes)).Decode(out); err != nil {
		return fmt.Errorf("POST %s: decoding the answer: %w", path, err)
	}
	return nil
}

func readError(resp *http.Response) *Error {
	e := &Error{Status: resp.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var body errorBody
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		e.Message = body.Error
	} else {
		// not our handler (a proxy, a wrong URL): keep a little of what it said
		e.Message = strings.TrimSpace(string(raw))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// maxRetryAfter caps a Retry-After, so that a wild value cannot silence a node for good.
const maxRetryAfter = time.Hour

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	var d time.Duration
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		d = time.Duration(min(max(n, 0), int(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// RetryAfter returns the wait a 429 asked for, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
