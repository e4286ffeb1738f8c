package httprec_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/httprec"
)

func TestWriter(t *testing.T) {
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter)
		status  int
		bytes   int64
	}{
		{"nothing written", func(http.ResponseWriter) {}, http.StatusOK, 0},
		{"body only", func(w http.ResponseWriter) { _, _ = w.Write([]byte("hello")) }, http.StatusOK, 5},
		{"status and body", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write([]byte("ab"))
			_, _ = w.Write([]byte("c"))
		}, http.StatusPartialContent, 3},
		{"an informational answer first", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNotFound)
		}, http.StatusNotFound, 0},
		{"a second status is not recorded", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusForbidden)
			w.WriteHeader(http.StatusOK)
		}, http.StatusForbidden, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := httprec.New(rec)
			tt.handler(w)
			w.Flush()
			require.Equal(t, tt.status, w.Status())
			require.Equal(t, tt.bytes, w.Bytes())
			require.Same(t, rec, w.Unwrap().(*httptest.ResponseRecorder))
			require.True(t, rec.Flushed)
		})
	}
}
