package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
)

// maxAnswer bounds what is read of an answer.
const maxAnswer = 32 << 20

// client calls the manager's native API.
type client struct {
	base    string // e.g. http://127.0.0.1:5080, without a trailing slash
	token   string // never printed
	timeout time.Duration
	http    *http.Client
}

func newClient(base, token string, timeout time.Duration) *client {
	return &client{base: base, token: token, timeout: timeout, http: &http.Client{}}
}

// apiError is a non-2xx answer.
type apiError struct {
	status  string // "409 Conflict"
	code    int
	message string
}

func (e *apiError) Error() string {
	msg := e.status + ": " + e.message
	if e.code == http.StatusUnauthorized {
		msg += " (pass --token or set NAGARE_ADMIN_TOKEN)"
	}
	return msg
}

// do sends body (JSON, when not nil) to path and decodes the answer into out (nil: ignore it). Pass a
// *json.RawMessage to keep the answer as the API wrote it.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("building the request %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return c.transportError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &apiError{status: resp.Status, code: resp.StatusCode, message: errorMessage(resp.StatusCode, raw)}
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// errorMessage takes the API's {"error": "..."}, or a little of whatever else answered (a proxy, a
// wrong URL).
func errorMessage(code int, raw []byte) string {
	var body apitypes.Error
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		return body.Error
	}
	msg := strings.Join(strings.Fields(string(raw)), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(code)
	}
	return msg
}

// transportError says what went wrong in words that name the manager.
func (c *client) transportError(err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach the manager at %s: connection refused (is it running? set --manager or NAGARE_MANAGER_URL)", c.base)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the manager at %s did not answer within %s (see --timeout)", c.base, c.timeout)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("interrupted while calling the manager at %s", c.base)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("calling the manager at %s: %w", c.base, err)
}
