package nodeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// PathRecordings is the endpoint on an origin's HTTP port through which the manager starts (PUT) and stops
// (DELETE) the recording of a stream: PathRecordings + "<app>/<stream>", with the cluster secret as a
// Bearer token. The answer is a RecordingState.
const PathRecordings = "/api/v1/recordings/"

// PathSources and PathRenditions are the endpoints on an origin's HTTP port through which a transcoder
// node takes a stream and gives back its renditions, with the cluster secret as a Bearer token:
// GET PathSources + "<app>/<stream>" answers the live stream as MPEG-TS (the stream's timestamps plus
// 10 s, on the 90 kHz clock) until it ends; POST PathRenditions + "<app>/<stream>_<rung>?of=<stream>&rung=<rung>&bandwidth=<bit/s>"
// publishes the MPEG-TS of its body, in the same timeline, as that rendition of the stream until the body ends.
const (
	PathSources    = "/api/v1/sources/"
	PathRenditions = "/api/v1/renditions/"
)

// RecordingState is an origin's answer to a recording command.
type RecordingState struct {
	Stream string `json:"stream"`
	// Recording: the next publications of the stream are recorded.
	Recording bool `json:"recording"`
	// RecordingNow: the live publication is being recorded.
	RecordingNow bool `json:"recordingNow"`
}

// Recorder sends recording commands to origins.
type Recorder struct {
	Secret string
	// HTTP is the client to use; nil means one without a timeout of its own (the context bounds each
	// command).
	HTTP *http.Client
}

// NodeResult is one node's answer to a command sent to several.
type NodeResult struct {
	NodeID string
	State  RecordingState
	Err    error
}

// Target is a node a command goes to: its id and the base URL of its HTTP server (http://host:port or
// https://host:port).
type Target struct{ ID, URL string }

// SetRecording asks every target, in parallel and within timeout, to record stream (on) or to stop, and
// returns every answer in the order of targets.
func (r *Recorder) SetRecording(ctx context.Context, targets []Target, stream string, on bool, timeout time.Duration) []NodeResult {
	if err := ValidateStreamName(stream); err != nil {
		out := make([]NodeResult, len(targets))
		for i, t := range targets {
			out[i] = NodeResult{NodeID: t.ID, Err: err}
		}
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := make([]NodeResult, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := r.set(ctx, t.URL, stream, on)
			out[i] = NodeResult{NodeID: t.ID, State: st, Err: err}
		}()
	}
	wg.Wait()
	return out
}

func (r *Recorder) set(ctx context.Context, base, stream string, on bool) (RecordingState, error) {
	var st RecordingState
	method := http.MethodPut
	if !on {
		method = http.MethodDelete
	}
	req, err := http.NewRequestWithContext(ctx, method, base+PathRecordings+stream, nil)
	if err != nil {
		return st, fmt.Errorf("building recording request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+r.Secret)
	client := r.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		msg := res.Status
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg += ": " + e.Error
		}
		return st, errors.New(strings.TrimSpace(msg))
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("decoding the answer: %w", err)
	}
	return st, nil
}
