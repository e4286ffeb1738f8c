package nodeapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/nodeapi"
)

// TestSetRecordingAsksOriginsInParallel: every origin is asked at once (each answers only after all were
// asked), an origin that hangs costs one deadline, and answers come back per node.
func TestSetRecordingAsksOriginsInParallel(t *testing.T) {
	const secret = "cluster-secret-0123456789"
	var arrived sync.WaitGroup
	arrived.Add(3) // the three origins that answer
	var mu sync.Mutex
	var got []string
	origin := func(status int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
			mu.Unlock()
			arrived.Done()
			arrived.Wait() // only possible if the requests are in flight together
			w.WriteHeader(status)
			if status != http.StatusOK {
				_ = json.NewEncoder(w).Encode(map[string]string{"error": "only origins record"})
				return
			}
			_ = json.NewEncoder(w).Encode(nodeapi.RecordingState{Stream: "live/a", Recording: r.Method == http.MethodPut})
		}))
	}
	a, b, c := origin(http.StatusOK), origin(http.StatusOK), origin(http.StatusConflict)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	for _, s := range []*httptest.Server{a, b, c, hang} {
		t.Cleanup(s.Close)
	}
	rec := &nodeapi.Recorder{Secret: secret}
	res := rec.SetRecording(context.Background(), []nodeapi.Target{
		{ID: "a", URL: a.URL}, {ID: "hang", URL: hang.URL}, {ID: "b", URL: b.URL}, {ID: "c", URL: c.URL},
	}, "live/a", true, 2*time.Second)
	require.Len(t, res, 4)
	require.NoError(t, res[0].Err)
	require.True(t, res[0].State.Recording)
	require.ErrorIs(t, res[1].Err, context.DeadlineExceeded)
	require.NoError(t, res[2].Err)
	require.ErrorContains(t, res[3].Err, "409 Conflict: only origins record")
	require.Equal(t, []string{"a", "hang", "b", "c"}, []string{res[0].NodeID, res[1].NodeID, res[2].NodeID, res[3].NodeID})
	for _, g := range got {
		require.Equal(t, "PUT /api/v1/recordings/live/a Bearer "+secret, g)
	}

	bad := rec.SetRecording(context.Background(), []nodeapi.Target{{ID: "a", URL: a.URL}}, "../etc", false, time.Second)
	require.ErrorIs(t, bad[0].Err, nodeapi.ErrInvalid, "a hostile name never reaches a URL")
}
