package node

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/relay"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/netaddr"
	"github.com/nagare-video/nagare/internal/nodeagent"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/nodestats"
	"github.com/nagare-video/nagare/internal/version"
)

// newAgent connects the node to its stream manager.
func (n *Node) newAgent(cfg config.Config) *nodeagent.Agent {
	var memWarn sync.Once
	a := &nodeagent.Agent{
		Client: &nodeapi.Client{BaseURL: cfg.Cluster.ManagerURL, Secret: cfg.Cluster.Secret, HTTP: &http.Client{Timeout: 10 * time.Second, Transport: n.cluster}},
		Register: nodeapi.RegisterRequest{
			ID: cfg.Cluster.NodeID, Role: nodemodel.Role(cfg.Node.Role), Version: version.Version, Group: cfg.Cluster.Group,
			Region: cfg.Cluster.Region, Zone: cfg.Cluster.Zone,
			Addresses: nodemodel.Addresses{
				RTMP:  advertise(cfg.Cluster.AdvertiseRTMP, n.RTMPAddr()),
				RTMPS: advertise(cfg.Cluster.AdvertiseRTMPS, n.RTMPSAddr()),
				SRT:   advertise(cfg.Cluster.AdvertiseSRT, n.SRTAddr()),
				HTTP:  advertise(cfg.Cluster.AdvertiseHTTP, n.HTTPAddr()),
				TLS:   cfg.TLS.Enabled(),
			},
		},
		Stats:      func() (nodemodel.Load, []nodemodel.StreamLoad) { return n.agentStats(&memWarn) },
		MaxStreams: reportStreams,
		OnAssignment: func(as nodeapi.Assignment) {
			if n.edge != nil && cfg.Node.Parent == "" && as.Parent != "" {
				n.SetParent(as.Parent)
			}
			if n.remote != nil {
				n.remote.apply(as.Transcode)
			}
			if n.edge != nil {
				n.setSteering(as.Steering)
				n.edge.SetDraining(as.Drain)
				n.moveWebRTCViewers(as.Drain)
			}
		},
		Log: n.log.With("component", "nodeagent"),
	}
	if n.remote == nil {
		// a transcoder's streams are its origins' (which report them), not its own
		n.registry.AddListener(agentListener{a})
	}
	return a
}

// moveWebRTCViewers ends the WHEP sessions of a draining edge, spread over webRTCMoveSpan, once per drain:
// WebRTC has no steering, so its players are told to leave (their pages reconnect through the manager,
// which no longer sends anyone here) rather than be cut when the edge is terminated.
func (n *Node) moveWebRTCViewers(draining bool) {
	if n.webrtc == nil || !draining {
		n.webrtcMoved.Store(false)
		return
	}
	if n.webrtcMoved.Swap(true) {
		return
	}
	go func() {
		k := n.webrtc.EndViewers(webRTCMoveSpan, "the edge drains: the player reconnects through the manager")
		n.log.Info("draining: WebRTC viewers sent back to the manager", "sessions", k, "over", webRTCMoveSpan)
	}()
}

// webRTCMoveSpan is how long a draining edge takes to end its WHEP sessions, one after another.
const webRTCMoveSpan = 5 * time.Second

// setSteering records the edge's part in content steering from the manager's assignment.
func (n *Node) setSteering(st *nodeapi.Steering) {
	var next *relay.Steering
	if st != nil {
		next = &relay.Steering{ServerURI: st.ServerURI, Pathway: st.Pathway}
		if st.Storage != "" && st.StoragePlaylist != "" {
			next.Storage, next.StoragePlaylist, next.StoragePathway = st.Storage, st.StoragePlaylist, nodeapi.StoragePathway
		}
	}
	if prev := n.steering.Load(); (prev == nil) != (next == nil) || prev != nil && *prev != *next {
		n.steering.Store(next)
		if next != nil {
			n.log.Info("content steering on", "server", next.ServerURI, "pathway", next.Pathway, "storage", next.Storage)
		} else {
			n.log.Info("content steering off")
		}
	}
}

// advertise returns the configured address, or the bound one with a wildcard host replaced by loopback.
func advertise(configured, bound string) string {
	if configured != "" || bound == "" {
		return configured
	}
	return netaddr.Loopback(bound)
}

// reportStreams bounds the streams a report lists by name; the manager needs an origin's publications
// to route viewers and publishers, and a node carrying more reports the rest in its count.
const reportStreams = 500

// agentStats is the node's load as the manager sees it: aggregated figures, and the streams published
// here with what the operator console shows of each. An edge or relay lists only the streams its viewers
// watch, with their counts: what it pulls follows its viewers (or anyone asking for made-up names), which
// the manager has no use for beyond the count.
func (n *Node) agentStats(memWarn *sync.Once) (nodemodel.Load, []nodemodel.StreamLoad) {
	live := n.registry.List()
	out := nodemodel.Load{
		Publishers: publishers(live), Subscribers: n.viewers(nil), BytesIn: n.registry.BytesIn(),
		BytesOut: n.bytesOut(), CPUPercent: n.cpu.Percent(), UptimeSeconds: time.Since(n.started).Seconds(),
	}
	out.Connections = out.Publishers + out.Subscribers
	_, out.MemoryBytes, _ = nodestats.Process(0)
	mem, err := nodestats.MemoryUsedPercent()
	if err != nil {
		memWarn.Do(func() { n.log.Warn("memory use not reported", "cause", err) })
	}
	out.MemoryUsedPercent = mem
	if n.transcoder != nil {
		was := n.overload.now()
		out.Overloaded = n.overload.check(n.transcoder.Stats())
		switch {
		case out.Overloaded != "" && was == "":
			n.log.Warn("node overloaded: its transcoding falls behind real time; the manager gives it nothing new", "cause", out.Overloaded)
		case out.Overloaded == "" && was != "":
			n.log.Info("node no longer overloaded: its transcoding keeps up")
		}
	}
	switch {
	case n.edge != nil:
		out.Streams = len(n.edge.Streams())
		return out, n.watchedStreams()
	case n.remote != nil:
		// a transcoder's load is the streams it transcodes (its publishers), against its capacity
		out.Streams = out.Publishers
		return out, nil
	}
	out.Streams = len(live)
	renditions := map[stream.Path][]string{} // by source, from every live stream (live is cut below)
	for _, s := range live {
		if rd := s.Rendition; rd != nil && len(renditions[rd.Of]) < nodeapi.MaxRenditions {
			renditions[rd.Of] = append(renditions[rd.Of], s.Path.String())
		}
	}
	// the longest-running first, so that a list cut at reportStreams stays the same from one report to
	// the next, and the manager does not drop and re-add the same streams in turn
	sort.Slice(live, func(i, j int) bool {
		if !live[i].StartedAt.Equal(live[j].StartedAt) {
			return live[i].StartedAt.Before(live[j].StartedAt)
		}
		return live[i].Path.String() < live[j].Path.String()
	})
	live = live[:min(len(live), reportStreams)]
	hlsViewers, webrtcViewers := n.hls.ViewersByStream(), n.webrtcViewersByStream()
	rates := n.bitrates.measure(live, time.Now())
	streams := make([]nodemodel.StreamLoad, len(live))
	for i, s := range live {
		p := s.Path
		sl := nodemodel.StreamLoad{Name: p.String(), Protocol: s.Protocol, BytesIn: s.BytesIn(), Bitrate: rates[s],
			HLSViewers: hlsViewers[p], WebRTCViewers: webrtcViewers[p], Renditions: renditions[p]}
		sl.Subscribers = sl.HLSViewers + sl.WebRTCViewers
		slices.Sort(sl.Renditions)
		if m, ok := n.muxers.Media(p); ok {
			sl.Codecs, sl.Width, sl.Height = strings.Join(m.Codecs, ","), m.Width, m.Height
		}
		if n.push != nil {
			sl.Recording = n.push.rec.Now(p)
		}
		streams[i] = sl
	}
	return out, streams
}

// watchedStreams lists the streams an edge or relay has viewers of, the most watched first, with their
// counts by protocol.
func (n *Node) watchedStreams() []nodemodel.StreamLoad {
	hlsViewers, webrtcViewers := n.hls.ViewersByStream(), n.webrtcViewersByStream()
	paths := make([]stream.Path, 0, len(hlsViewers)+len(webrtcViewers))
	for p := range hlsViewers {
		paths = append(paths, p)
	}
	for p := range webrtcViewers {
		if _, dup := hlsViewers[p]; !dup {
			paths = append(paths, p)
		}
	}
	total := func(p stream.Path) int { return hlsViewers[p] + webrtcViewers[p] }
	sort.Slice(paths, func(i, j int) bool {
		if a, b := total(paths[i]), total(paths[j]); a != b {
			return a > b
		}
		return paths[i].String() < paths[j].String()
	})
	paths = paths[:min(len(paths), reportStreams)]
	out := make([]nodemodel.StreamLoad, len(paths))
	for i, p := range paths {
		out[i] = nodemodel.StreamLoad{Name: p.String(), Subscribers: total(p), HLSViewers: hlsViewers[p], WebRTCViewers: webrtcViewers[p]}
	}
	return out
}

// bitrates measures what each stream brings in, from one load report to the next.
type bitrates struct {
	mu   sync.Mutex
	last map[*stream.Stream]rateSample
}

// rateSample is a stream's byte count at an instant, with the bit rate measured up to then.
type rateSample struct {
	at    time.Time
	bytes uint64
	rate  int64 // bit/s; 0 before the first measure
}

// minRateSpan is the shortest span a bit rate is measured over: a report made again at once (after a
// failed one) keeps the rate of the one before.
const minRateSpan = time.Second

// measure returns the bit rate of each stream of live since the previous call (since it started, at
// its first) and forgets the streams that are not in live. A stream younger than minRateSpan has none.
func (b *bitrates) measure(live []*stream.Stream, now time.Time) map[*stream.Stream]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := make(map[*stream.Stream]rateSample, len(live))
	out := make(map[*stream.Stream]int64, len(live))
	for _, s := range live {
		cur, ok := b.last[s]
		if !ok {
			cur = rateSample{at: s.StartedAt}
		}
		if span := now.Sub(cur.at); span >= minRateSpan {
			bytes := s.BytesIn()
			cur = rateSample{at: now, bytes: bytes, rate: int64(float64(bytes-cur.bytes) * 8 / span.Seconds())}
		}
		next[s], out[s] = cur, cur.rate
	}
	b.last = next
	return out
}

// agentListener tells the manager of publishes and unpublishes as they happen.
type agentListener struct{ a *nodeagent.Agent }

func (l agentListener) StreamStarted(s *stream.Stream) {
	l.a.StreamStarted(s.Path.String(), s.Protocol)
}
func (l agentListener) StreamEnded(s *stream.Stream) { l.a.StreamEnded(s.Path.String(), s.Protocol) }
