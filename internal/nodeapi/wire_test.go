package nodeapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestWireFormat pins the JSON of every message: nodes and managers of different versions must keep
// understanding each other, so a change here is a protocol change.
func TestWireFormat(t *testing.T) {
	for _, tc := range []struct {
		file string
		msg  any
	}{
		{"register_request.json", goodRegister()},
		{"register_request_minimal.json", nodeapi.RegisterRequest{Role: "origin", Version: "dev", Addresses: nodemodel.Addresses{HTTP: "127.0.0.1:8080"}}},
		{"register_response.json", nodeapi.RegisterResponse{ID: "node-1", ReportIntervalMS: 5000, Assignment: nodeapi.Assignment{State: "pending"}}},
		{"report_request.json", goodReport()},
		{"report_response.json", nodeapi.ReportResponse{ReportIntervalMS: 5000, Assignment: goodAssignment()}},
		{"parent_request.json", nodeapi.ParentRequest{ID: "edge-1"}},
		{"parent_response.json", nodeapi.ParentResponse{Parent: "http://10.0.0.7:8080"}},
		{"stream_event.json", nodeapi.StreamEvent{ID: "node-1", Stream: "live/stream1", Action: "publish", Protocol: "rtmp"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := json.MarshalIndent(tc.msg, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			path := filepath.Join("testdata", "wire", tc.file)
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestWireFormat -update to create it")
			require.Equal(t, string(want), string(got))

			// and back, strictly, as the handler reads requests
			back := reflect.New(reflect.TypeOf(tc.msg))
			dec := json.NewDecoder(bytes.NewReader(want))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(back.Interface()))
			if a, ok := tc.msg.(nodeapi.ReportResponse); ok {
				require.True(t, a.Assignment.Equal(back.Elem().Interface().(nodeapi.ReportResponse).Assignment))
				return
			}
			require.Equal(t, tc.msg, back.Elem().Interface())
		})
	}
}
