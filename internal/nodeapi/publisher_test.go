package nodeapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/nodeapi"
)

// TestStopPublisher: the command reaches the origin as DELETE PathPublishers<stream> with the cluster
// secret, and its answers map to errors the manager can tell apart.
func TestStopPublisher(t *testing.T) {
	const secret = "cluster-secret-0123456789"
	for _, tc := range []struct {
		name    string
		status  int    // the origin's answer
		stream  string // what is stopped
		is      error  // what the error wraps (nil: no error unless msg)
		msg     string // part of the error message
		reached bool   // the request reached the origin
	}{
		{name: "stopped", status: http.StatusNoContent, stream: "live/a", reached: true},
		{name: "not live", status: http.StatusNotFound, stream: "live/a", is: nodeapi.ErrNotLive, msg: "404 Not Found: nothing here", reached: true},
		{name: "cannot stop there", status: http.StatusConflict, stream: "live/a", is: nodeapi.ErrConflict, msg: "409 Conflict: nothing here", reached: true},
		{name: "origin fails", status: http.StatusInternalServerError, stream: "live/a", msg: "500 Internal Server Error: nothing here", reached: true},
		{name: "wrong secret", status: http.StatusForbidden, stream: "live/a", msg: "403 Forbidden", reached: true},
		{name: "hostile name", status: http.StatusNoContent, stream: "../etc", is: nodeapi.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got string
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Method + " " + r.URL.Path + " " + r.Header.Get("Authorization")
				w.WriteHeader(tc.status)
				if tc.status != http.StatusNoContent {
					_ = json.NewEncoder(w).Encode(map[string]string{"error": "nothing here"})
				}
			}))
			t.Cleanup(origin.Close)
			err := (&nodeapi.Publishers{Secret: secret}).Stop(context.Background(), origin.URL+"/", tc.stream)
			switch {
			case tc.is != nil:
				require.ErrorIs(t, err, tc.is)
			case tc.msg == "":
				require.NoError(t, err)
			}
			if tc.msg != "" {
				require.ErrorContains(t, err, tc.msg)
			}
			if tc.reached {
				require.Equal(t, "DELETE /api/v1/publishers/live/a Bearer "+secret, got)
			} else {
				require.Empty(t, got, "a hostile name never reaches a URL")
			}
		})
	}
}
