package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// TestTranscodeJobs: the streams with a provisioned ladder, live on an origin, are shared among the
// group's transcoders (the fewest jobs first, within capacity), stay with their transcoder, wait as
// demand for the role when every transcoder is full, and move when a transcoder dies.
func TestTranscodeJobs(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	transcoderGroup(t, s, 1)
	var mu sync.Mutex
	demand := 0
	r.Unserved = func(group string, role nodemodel.Role) {
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, "g", group)
		require.Equal(t, nodemodel.RoleTranscoder, role)
		demand++
	}
	for _, name := range []string{"live/a", "live/b", "live/c"} {
		require.NoError(t, s.PutLadder(ctx, store.Ladder{Stream: name, Rungs: []store.LadderRung{{Name: "1", Height: 360, VideoBitrate: 500_000}}}))
	}
	join := func(id, role, http string) {
		_, err := r.Register(ctx, nodeapi.RegisterRequest{ID: id, Role: nodemodel.Role(role), Group: "g", Addresses: nodemodel.Addresses{HTTP: http}})
		require.NoError(t, err)
	}
	report := func(id string, streams ...string) []nodeapi.TranscodeJob {
		var sl []nodemodel.StreamLoad
		for _, st := range streams {
			sl = append(sl, nodemodel.StreamLoad{Name: st, Protocol: "rtmp"})
		}
		rep, err := r.Report(ctx, nodeapi.ReportRequest{ID: id, Streams: sl})
		require.NoError(t, err)
		return rep.Assignment.Transcode
	}
	join("o1", "origin", "10.0.0.1:8080")
	join("t1", "transcoder", "10.0.0.2:8080")
	join("t2", "transcoder", "10.0.0.3:8080")
	c.Add(2 * time.Second)
	report("o1", "live/a", "live/b", "live/c", "live/plain") // live/plain has no ladder
	report("t1")
	report("t2") // both in service now
	c.Add(2 * time.Second)

	j1 := report("t1")
	require.Len(t, j1, 1, "capacity 1")
	require.Equal(t, "live/a", j1[0].Stream)
	require.Equal(t, "http://10.0.0.1:8080", j1[0].Origin)
	require.True(t, j1[0].Ladder.Found)
	require.Equal(t, []nodeapi.Rung{{Name: "1", Height: 360, VideoBitrate: 500_000}}, j1[0].Ladder.Rungs)
	j2 := report("t2")
	require.Len(t, j2, 1)
	require.Equal(t, "live/b", j2[0].Stream)
	mu.Lock()
	require.Positive(t, demand, "live/c waits while both transcoders are full: demand for the role")
	mu.Unlock()

	// sticky: the same jobs report after report
	c.Add(2 * time.Second)
	require.Equal(t, j1, report("t1"))
	require.Equal(t, j2, report("t2"))

	// t1 dies (no report for the node timeout); t2 keeps reporting: live/a waits, t3 takes it
	for range 6 {
		c.Add(2 * time.Second)
		report("o1", "live/a", "live/b", "live/c", "live/plain")
		require.Equal(t, j2, report("t2"))
		r.ReapSilent(ctx)
	}
	n, _ := r.Node("t1")
	require.NotEqual(t, nodemodel.StateInService, n.State)
	join("t3", "transcoder", "10.0.0.4:8080")
	c.Add(2 * time.Second)
	report("t3")
	c.Add(2 * time.Second)
	j3 := report("t3")
	require.Len(t, j3, 1)
	require.Contains(t, []string{"live/a", "live/c"}, j3[0].Stream, "a waiting stream goes to the new transcoder")

	// a stream that ends is no longer a job: t2, free again, takes the stream still waiting
	c.Add(2 * time.Second)
	report("o1", "live/a", "live/c", "live/plain")
	c.Add(2 * time.Second)
	left := "live/a"
	if j3[0].Stream == left {
		left = "live/c"
	}
	j2 = report("t2")
	require.Len(t, j2, 1)
	require.Equal(t, left, j2[0].Stream, "live/b ended")
}

// TestEdgeAsksWhereAStreamIs: in a group of two origins, an edge (one parent) learns which origin carries
// a stream; a stream live nowhere is ErrUnavailable.
func TestEdgeAsksWhereAStreamIs(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	_, err := s.CreatePolicy(ctx, store.ScalePolicy{Name: "p", Targets: []store.RoleLimits{{Role: "edge", MinLimit: 1, MaxLimit: 3, ScaleAdjustment: 1}}})
	require.NoError(t, err)
	_, err = s.CreateLaunchConfig(ctx, store.LaunchConfig{Name: "lc", Targets: []store.LaunchTarget{{Role: "origin"}, {Role: "edge"}}})
	require.NoError(t, err)
	_, err = s.CreateGroup(ctx, store.NodeGroup{Name: "g", LaunchConfig: "lc", ScalePolicy: "p"})
	require.NoError(t, err)
	for _, n := range []struct{ id, role, http string }{{"o1", "origin", "10.0.0.1:8080"}, {"o2", "origin", "10.0.0.2:8080"}, {"e1", "edge", "10.0.0.3:8080"}} {
		_, err := r.Register(ctx, nodeapi.RegisterRequest{ID: n.id, Role: nodemodel.Role(n.role), Group: "g", Addresses: nodemodel.Addresses{HTTP: n.http}})
		require.NoError(t, err)
	}
	c.Add(2 * time.Second)
	for id, live := range map[string]string{"o1": "live/a", "o2": "live/b", "e1": ""} {
		req := nodeapi.ReportRequest{ID: id}
		if live != "" {
			req.Streams = []nodemodel.StreamLoad{{Name: live, Protocol: "rtmp"}}
		}
		_, err := r.Report(ctx, req)
		require.NoError(t, err)
	}
	for stream, want := range map[string]string{"live/a": "http://10.0.0.1:8080", "live/b": "http://10.0.0.2:8080"} {
		got, err := r.Origin(ctx, nodeapi.OriginRequest{ID: "e1", Stream: stream})
		require.NoError(t, err)
		require.Equal(t, want, got.Origin, stream)
	}
	_, err = r.Origin(ctx, nodeapi.OriginRequest{ID: "e1", Stream: "live/nowhere"})
	require.ErrorIs(t, err, nodeapi.ErrUnavailable)
}

// TestTranscoderOrigin: a transcoder node that a publisher publishes to (Red5's transcode=true) learns
// the origin the stream goes to; the stream, live on the origin through the transcoder, is no job for
// another transcoder; only transcoders may ask, and without an origin in service the answer is 503.
func TestTranscoderOrigin(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	_, err := s.CreatePolicy(ctx, store.ScalePolicy{Name: "p", Targets: []store.RoleLimits{{Role: "transcoder", MinLimit: 1, MaxLimit: 3, ScaleAdjustment: 1}}})
	require.NoError(t, err)
	_, err = s.CreateLaunchConfig(ctx, store.LaunchConfig{Name: "lc", Targets: []store.LaunchTarget{{Role: "origin"}, {Role: "transcoder"}}})
	require.NoError(t, err)
	_, err = s.CreateGroup(ctx, store.NodeGroup{Name: "g", LaunchConfig: "lc", ScalePolicy: "p"})
	require.NoError(t, err)
	require.NoError(t, s.PutLadder(ctx, store.Ladder{Stream: "live/a", Rungs: []store.LadderRung{{Name: "1", Height: 360, VideoBitrate: 500_000}}}))
	join := func(id, role, http string) {
		_, err := r.Register(ctx, nodeapi.RegisterRequest{ID: id, Role: nodemodel.Role(role), Group: "g", Addresses: nodemodel.Addresses{HTTP: http}})
		require.NoError(t, err)
	}
	_, err = r.Origin(ctx, nodeapi.OriginRequest{ID: "t1", Stream: "live/a"})
	require.ErrorIs(t, err, nodeapi.ErrUnknownNode)
	join("t1", "transcoder", "10.0.0.2:8080")
	join("t2", "transcoder", "10.0.0.3:8080")
	c.Add(2 * time.Second)
	for _, id := range []string{"t1", "t2"} {
		_, err := r.Report(ctx, nodeapi.ReportRequest{ID: id})
		require.NoError(t, err)
	}
	_, err = r.Origin(ctx, nodeapi.OriginRequest{ID: "t1", Stream: "live/a"})
	require.ErrorIs(t, err, nodeapi.ErrUnavailable, "no origin yet")

	join("o1", "origin", "10.0.0.1:8080")
	c.Add(2 * time.Second)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "o1"})
	require.NoError(t, err)
	got, err := r.Origin(ctx, nodeapi.OriginRequest{ID: "t1", Stream: "live/a"})
	require.NoError(t, err)
	require.Equal(t, "http://10.0.0.1:8080", got.Origin)
	_, err = r.Origin(ctx, nodeapi.OriginRequest{ID: "o1", Stream: "live/a"})
	require.ErrorIs(t, err, nodeapi.ErrInvalid, "an origin asks nobody where streams are")

	// the stream is live on o1 through t1: neither transcoder gets it as a job
	c.Add(2 * time.Second)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "o1", Streams: []nodemodel.StreamLoad{{Name: "live/a", Protocol: nodeapi.ViaTranscoder("rtmp")}}})
	require.NoError(t, err)
	c.Add(2 * time.Second)
	for _, id := range []string{"t1", "t2"} {
		rep, err := r.Report(ctx, nodeapi.ReportRequest{ID: id})
		require.NoError(t, err)
		require.Empty(t, rep.Assignment.Transcode, id)
	}
	// published to the origin itself next time, it is one
	c.Add(2 * time.Second)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "o1"})
	require.NoError(t, err)
	c.Add(2 * time.Second)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "o1", Streams: []nodemodel.StreamLoad{{Name: "live/a", Protocol: "rtmp"}}})
	require.NoError(t, err)
	c.Add(2 * time.Second)
	jobs := 0
	for _, id := range []string{"t1", "t2"} {
		rep, err := r.Report(ctx, nodeapi.ReportRequest{ID: id})
		require.NoError(t, err)
		jobs += len(rep.Assignment.Transcode)
	}
	require.Equal(t, 1, jobs)
}

// TestOverloadedTranscoderTakesNoJob: a transcoder that reports it falls behind gets no new stream; with
// every transcoder overloaded, the waiting stream is demand for the role.
func TestOverloadedTranscoderTakesNoJob(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	transcoderGroup(t, s, 4)
	var mu sync.Mutex
	demand := 0
	r.Unserved = func(string, nodemodel.Role) {
		mu.Lock()
		defer mu.Unlock()
		demand++
	}
	for _, name := range []string{"live/a", "live/b"} {
		require.NoError(t, s.PutLadder(ctx, store.Ladder{Stream: name, Rungs: []store.LadderRung{{Name: "1", Height: 360, VideoBitrate: 500_000}}}))
	}
	for _, n := range []struct{ id, role, http string }{{"o1", "origin", "10.0.0.1:8080"}, {"t1", "transcoder", "10.0.0.2:8080"}, {"t2", "transcoder", "10.0.0.3:8080"}} {
		_, err := r.Register(ctx, nodeapi.RegisterRequest{ID: n.id, Role: nodemodel.Role(n.role), Group: "g", Addresses: nodemodel.Addresses{HTTP: n.http}})
		require.NoError(t, err)
	}
	report := func(id, overloaded string, streams ...string) []nodeapi.TranscodeJob {
		var sl []nodemodel.StreamLoad
		for _, st := range streams {
			sl = append(sl, nodemodel.StreamLoad{Name: st, Protocol: "rtmp"})
		}
		rep, err := r.Report(ctx, nodeapi.ReportRequest{ID: id, Stats: nodemodel.Load{Overloaded: overloaded}, Streams: sl})
		require.NoError(t, err)
		return rep.Assignment.Transcode
	}
	c.Add(2 * time.Second)
	report("o1", "", "live/a")
	report("t1", "rung 360p at 0.52× real time")
	report("t2", "")
	c.Add(2 * time.Second)
	require.Empty(t, report("t1", "rung 360p at 0.52× real time"), "overloaded: no new job")
	require.Len(t, report("t2", ""), 1, "the other transcoder takes it")

	c.Add(2 * time.Second)
	report("o1", "", "live/a", "live/b")
	c.Add(2 * time.Second)
	require.Len(t, report("t2", "rung 360p at 0.61× real time"), 1, "an overloaded transcoder keeps its job")
	require.Empty(t, report("t1", "rung 360p at 0.52× real time"))
	mu.Lock()
	require.Positive(t, demand, "live/b waits while every transcoder is overloaded: demand for the role")
	mu.Unlock()
}

// TestTranscodeJobsOfConfiguredStreams: with TranscodeStreams, live streams it selects go to transcoders
// without a provisioned ladder (the job carries none: the transcoder makes its own), next to the
// provisioned ones (with theirs); streams it does not select, and renditions a transcoder publishes back,
// are no job.
func TestTranscodeJobsOfConfiguredStreams(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	r.TranscodeStreams = []string{"live/*", "studio/main"}
	transcoderGroup(t, s, 10)
	require.NoError(t, s.PutLadder(ctx, store.Ladder{Stream: "other/provisioned", Rungs: []store.LadderRung{{Name: "1", Height: 360, VideoBitrate: 500_000}}}))
	for _, n := range []struct{ id, role, http string }{{"o1", "origin", "10.0.0.1:8080"}, {"t1", "transcoder", "10.0.0.2:8080"}} {
		_, err := r.Register(ctx, nodeapi.RegisterRequest{ID: n.id, Role: nodemodel.Role(n.role), Group: "g", Addresses: nodemodel.Addresses{HTTP: n.http}})
		require.NoError(t, err)
	}
	report := func(id string, streams ...nodemodel.StreamLoad) []nodeapi.TranscodeJob {
		rep, err := r.Report(ctx, nodeapi.ReportRequest{ID: id, Streams: streams})
		require.NoError(t, err)
		return rep.Assignment.Transcode
	}
	published := []nodemodel.StreamLoad{
		{Name: "live/a", Protocol: "rtmp"},
		{Name: "live/a_360p", Protocol: nodeapi.ProtocolTranscoder}, // a rendition a transcoder gave back
		{Name: "studio/main", Protocol: "srt"},
		{Name: "studio/other", Protocol: "rtmp"},      // not selected, not provisioned
		{Name: "other/provisioned", Protocol: "rtmp"}, // provisioned
	}
	c.Add(2 * time.Second)
	report("o1", published...)
	report("t1")
	c.Add(2 * time.Second)
	report("o1", published...)

	jobs := report("t1")
	var streams []string
	for _, j := range jobs {
		streams = append(streams, j.Stream)
		require.Equal(t, "http://10.0.0.1:8080", j.Origin)
		if j.Stream == "other/provisioned" {
			require.NotNil(t, j.Ladder, "a provisioned stream's job carries its ladder")
			require.True(t, j.Ladder.Found)
		} else {
			require.Nil(t, j.Ladder, "%s: the transcoder makes its own ladder", j.Stream)
		}
	}
	require.Equal(t, []string{"live/a", "other/provisioned", "studio/main"}, streams)
}

// transcoderGroup makes group g, whose launch configuration has origins and transcoders of capacity
// (streams each), and whose policy keeps one to three transcoders.
func transcoderGroup(t *testing.T, s *store.SQL, capacity int) {
	t.Helper()
	ctx := context.Background()
	_, err := s.CreatePolicy(ctx, store.ScalePolicy{Name: "p", Targets: []store.RoleLimits{{Role: "transcoder", MinLimit: 1, MaxLimit: 3, ScaleAdjustment: 1}}})
	require.NoError(t, err)
	_, err = s.CreateLaunchConfig(ctx, store.LaunchConfig{Name: "lc", Targets: []store.LaunchTarget{{Role: "origin"}, {Role: "transcoder", ConnectionCapacity: capacity}}})
	require.NoError(t, err)
	_, err = s.CreateGroup(ctx, store.NodeGroup{Name: "g", LaunchConfig: "lc", ScalePolicy: "p"})
	require.NoError(t, err)
}
