package nodeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// PathPublishers is the endpoint on an origin's HTTP port through which the manager stops the publisher of
// a stream: DELETE PathPublishers + "<app>/<stream>", with the cluster secret as a Bearer token. The origin
// closes the publisher's connection, whatever its protocol, and answers 204; 404 when the stream is not
// published there, 409 when it cannot be stopped there (a rendition, or a stream a transcoder node gives
// it). The publisher may publish again: its credentials still hold.
const PathPublishers = "/api/v1/publishers/"

// Publishers sends publisher commands to origins.
type Publishers struct {
	Secret string
	// HTTP is the client to use; nil means http.DefaultClient (the context bounds each command).
	HTTP *http.Client
}

// Stop asks the origin whose HTTP server is at base (http://host:port or https://host:port) to close the
// connection of stream's publisher. An error wrapping ErrNotLive: the stream is not published there;
// ErrConflict: it cannot be stopped there; any other error: the origin did not answer (usably).
func (p *Publishers) Stop(ctx context.Context, base, stream string) error {
	if err := ValidateStreamName(stream); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, strings.TrimSuffix(base, "/")+PathPublishers+stream, nil)
	if err != nil {
		return fmt.Errorf("building publisher request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+p.Secret)
	client := p.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode == http.StatusNoContent {
		return nil
	}
	msg := res.Status
	var e errorBody
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg += ": " + e.Error
	}
	switch res.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotLive, msg)
	case http.StatusConflict:
		return fmt.Errorf("%w: %s", ErrConflict, msg)
	}
	return errors.New(strings.TrimSpace(msg))
}
