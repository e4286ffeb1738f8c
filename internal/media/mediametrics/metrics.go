// Package mediametrics holds the Prometheus collectors of a media node. Each node has its own registry,
// so several nodes can run in one process (tests, `nagare all`).
package mediametrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the counters the media components update. A nil *Metrics is valid and records nothing.
type Metrics struct {
	Registry *prometheus.Registry

	PublishesRejected *prometheus.CounterVec // by protocol and reason
	Publishes         *prometheus.CounterVec // by protocol
	BytesIn           prometheus.Counter
	BytesOut          prometheus.Counter
	Segments          prometheus.Counter
	Parts             prometheus.Counter
	DroppedUnits      prometheus.Counter
	HTTPRequests      *prometheus.CounterVec // by kind and status class
	BadConnections    *prometheus.CounterVec // by protocol: handshakes that failed
	Upstream          *prometheus.CounterVec // edge/relay requests to the parent, by object kind and result
}

// New creates the collectors and registers them, with Go and process collectors, on a new registry.
// gauges are read at scrape time from the live state (streams, publishers, viewers).
func New(gauges ...prometheus.Collector) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		PublishesRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_publishes_rejected_total", Help: "Publish attempts refused, by protocol and reason.",
		}, []string{"protocol", "reason"}),
		Publishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_publishes_total", Help: "Publications accepted, by protocol.",
		}, []string{"protocol"}),
		BytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_bytes_in_total", Help: "Media payload bytes received from publishers.",
		}),
		BytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_bytes_out_total", Help: "HLS response body bytes sent to viewers.",
		}),
		Segments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_hls_segments_total", Help: "HLS segments produced.",
		}),
		Parts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_hls_parts_total", Help: "LL-HLS parts produced.",
		}),
		DroppedUnits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_dropped_frames_total", Help: "Access units dropped because a reader fell behind or the muxer refused them.",
		}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_http_requests_total", Help: "HLS HTTP requests by object kind and status code.",
		}, []string{"kind", "code"}),
		BadConnections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_bad_connections_total", Help: "Connections closed because of a protocol error.",
		}, []string{"protocol"}),
		Upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_upstream_requests_total", Help: "Requests an edge or relay sent to its parent, by object kind and result (HTTP status or error).",
		}, []string{"kind", "result"}),
	}
	reg.MustRegister(m.PublishesRejected, m.Publishes, m.BytesIn, m.BytesOut, m.Segments, m.Parts,
		m.DroppedUnits, m.HTTPRequests, m.BadConnections, m.Upstream,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(gauges...)
	return m
}

// Rejected counts a refused publish.
func (m *Metrics) Rejected(protocol, reason string) {
	if m != nil {
		m.PublishesRejected.WithLabelValues(protocol, reason).Inc()
	}
}

// Published counts an accepted publish.
func (m *Metrics) Published(protocol string) {
	if m != nil {
		m.Publishes.WithLabelValues(protocol).Inc()
	}
}

// BadConn counts a connection dropped for a protocol error.
func (m *Metrics) BadConn(protocol string) {
	if m != nil {
		m.BadConnections.WithLabelValues(protocol).Inc()
	}
}
