package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNegotiateRefusals: a refused offer is a StatusError with the server's status, body and headers; an
// answer without Location is an error; the peer connection is the caller's to close.
func TestNegotiateRefusals(t *testing.T) {
	api, err := NewAPI()
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		status  int
		err     string
	}{
		{"refused", func(w http.ResponseWriter, r *http.Request) {
			assert.Equal(t, "application/sdp", r.Header.Get("Content-Type"))
			assert.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"scaling out"}`))
		}, http.StatusServiceUnavailable, "503 Service Unavailable: {\"error\":\"scaling out\"}"},
		{"no Location", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte("v=0\r\n"))
		}, 0, "the answer has no Location"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			pc, err := api.NewPeerConnection(webrtc.Configuration{})
			require.NoError(t, err)
			defer pc.Close()
			_, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = Negotiate(ctx, nil, pc, srv.URL+"/live/s/whep", "tok")
			require.EqualError(t, err, tc.err)
			var se *StatusError
			if tc.status != 0 {
				require.True(t, errors.As(err, &se))
				assert.Equal(t, tc.status, se.Status)
				assert.Equal(t, "5", se.Header.Get("Retry-After"))
			}
		})
	}
}

func TestSessionNode(t *testing.T) {
	s := &Session{Endpoint: "http://10.0.0.7:8080/live/s/whep"}
	assert.Equal(t, "10.0.0.7:8080", s.Node())
}
