package ctl_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// TestStreamStop: `stream stop APP/STREAM` has the manager ask the stream's origin to stop its publisher,
// and says why when it cannot.
func TestStreamStop(t *testing.T) {
	t.Parallel()
	base := startManager(t)
	var mu sync.Mutex
	var stops []string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete || !strings.HasPrefix(r.URL.Path, nodeapi.PathPublishers) {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		stops = append(stops, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(origin.Close)

	ctx := context.Background()
	nc := &nodeapi.Client{BaseURL: base, Secret: clusterSecret}
	reg, err := nc.Register(ctx, nodeapi.RegisterRequest{Role: nodemodel.RoleOrigin, Version: "test",
		Addresses: nodemodel.Addresses{HTTP: strings.TrimPrefix(origin.URL, "http://")}})
	require.NoError(t, err)
	_, err = nc.Report(ctx, nodeapi.ReportRequest{ID: reg.ID, Stats: nodemodel.Load{Streams: 1},
		Streams: []nodemodel.StreamLoad{{Name: "live/cam1", Protocol: "rtmp"}}})
	require.NoError(t, err)

	require.Equal(t, "the publisher of live/cam1 was stopped (it may publish again with its credentials)\n",
		admin(t, base, "stream", "stop", "live/cam1"))
	require.Equal(t, []string{nodeapi.PathPublishers + "live/cam1 Bearer " + clusterSecret}, stops)

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"not live", []string{"stream", "stop", "live/none"}, 1, "nagare ctl: 404 Not Found: stream live/none is not live: not found\n"},
		{"no stream", []string{"stream", "stop"}, 2, "APP/STREAM"},
		{"a bad name", []string{"stream", "stop", "cam1"}, 2, "the stream must be APP/STREAM"},
		{"a hostile name", []string{"stream", "stop", "live/x y"}, 1, "400 Bad Request"},
	} {
		r := ctlRun(t, append([]string{"--manager", base, "--token", adminToken}, tc.args...)...)
		require.Equal(t, tc.code, r.code, "%s: %s", tc.name, r.stderr)
		require.Contains(t, r.stderr, tc.stderr, tc.name)
		require.Empty(t, r.stdout, tc.name)
	}
	require.Len(t, stops, 1, "only the live stream's origin was asked")
}
