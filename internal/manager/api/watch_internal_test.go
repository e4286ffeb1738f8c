package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/autoscaler"
)

// TestThin: a chart's samples are thinned to runs that keep their peaks, their last time and node count,
// and the newest sample; short ones pass as they are.
func TestThin(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var ps []autoscaler.TracePoint
	for i := range 900 {
		ps = append(ps, autoscaler.TracePoint{At: t0.Add(time.Duration(i) * time.Second), Load: 10, Predicted: 12, Nodes: 1 + i/300})
	}
	ps[451].Load, ps[452].Predicted = 95, 99 // a spike of a second

	got := thin(ps, 300)
	require.Len(t, got, 300)
	require.Equal(t, ps[899], got[299], "the newest sample is the last point")
	require.Equal(t, ps[2].At, got[0].At, "each point stands for a run of 3")
	require.Equal(t, 95.0, got[150].Load, "the spike stays")
	require.Equal(t, 99.0, got[150].Predicted)
	require.Equal(t, 2, got[150].Nodes)
	for i := 1; i < len(got); i++ {
		require.True(t, got[i].At.After(got[i-1].At))
	}
	require.Equal(t, 10.0, ps[450].Load, "the input is not changed")

	short := ps[:10]
	require.Equal(t, short, thin(short, 300))
}

// TestClusterEvent: the event is the picture as encoding/json writes it with its time, in one line.
func TestClusterEvent(t *testing.T) {
	pic := Picture{Groups: []apitypes.NodeGroup{{Name: "g1"}}, Nodes: []apitypes.Node{}}
	body, err := json.Marshal(pic)
	require.NoError(t, err)
	pic.At = time.Date(2026, 12, 4, 12, 0, 0, 5, time.UTC)
	want, err := json.Marshal(pic)
	require.NoError(t, err)
	require.Equal(t, "event: cluster\ndata: "+string(want)+"\n\n", string(clusterEvent(body, pic.At)))
}
