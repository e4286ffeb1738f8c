package nodeapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nagare-video/nagare/internal/nodeapi"
)

// FuzzHandlerDecode posts arbitrary bodies to the report endpoint: the handler must answer every one
// without a panic or a 5xx, with a JSON error body when it refuses, and the backend must only ever see
// a report that passes validation.
func FuzzHandlerDecode(f *testing.F) {
	for _, s := range []string{
		`{"id":"node-1","stats":{"connections":3,"bytesIn":10,"cpuPercent":1.5},"streams":[{"name":"live/a","protocol":"rtmp","subscribers":2,"bytesIn":7}]}`,
		`{"id":"node-1"}`,
		`{"id":"node-1","streams":[{"name":"../x"}]}`,
		`{"id":"node-1","stats":{"bytesIn":-1}}`,
		`{"id":"node-1","x":1}`,
		`{"id":"node-1"} {}`,
		`{"id":"\u0000"}`,
		`[`, `null`, `""`, `{}`, ``, `{"id":"a","streams":[{"name":"live/a"},{"name":"live/a"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b := &fakeBackend{report: func(_ context.Context, r nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
			if err := r.Validate(); err != nil {
				t.Fatalf("the backend got an invalid report: %v", err)
			}
			return nodeapi.ReportResponse{ReportIntervalMS: 1000}, nil
		}}
		h := nodeapi.NewHandler(secret, b, nil)
		req := httptest.NewRequest(http.MethodPost, nodeapi.PathReport, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		case rec.Code == http.StatusOK:
			if b.Calls() != 1 {
				t.Fatalf("200 without a backend call")
			}
		default:
			var e struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("status %d with a body that is no JSON error: %q", rec.Code, rec.Body)
			}
			if b.Calls() != 0 {
				t.Fatalf("status %d after a backend call", rec.Code)
			}
		}
	})
}
