// Package vodmetrics holds the Prometheus collectors of the VOD service. Each service has its own
// registry, so several can run in one process (tests, `nagare all`). No label names a video or an owner.
package vodmetrics

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc/codes"

	"github.com/nagare-video/nagare/internal/vod/store"
)

// Processing outcomes: a job ended with the video ready, failed for good, or failed for a reason that
// may pass and was queued again.
const (
	OutcomeReady  = "ready"
	OutcomeFailed = "failed"
	OutcomeRetry  = "retry"
)

// Metrics are the counters the VOD components update. A nil *Metrics is valid and records nothing.
type Metrics struct {
	Registry *prometheus.Registry

	UploadsStarted   prometheus.Counter
	UploadsCompleted prometheus.Counter
	UploadsFailed    *prometheus.CounterVec // by gRPC status code
	UploadBytes      prometheus.Counter
	Jobs             *prometheus.CounterVec // finished attempts, by outcome
	ProcessingTime   prometheus.Histogram
	ProcessingRatio  prometheus.Histogram
	PlaybackRequests *prometheus.CounterVec // by kind and status code
	PlaybackBytes    *prometheus.CounterVec // by kind
}

// New creates the collectors and registers them, with Go and process collectors and the library's gauges
// (read from lib at scrape time; nil: none), on a new registry.
func New(lib Library, log *slog.Logger) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		UploadsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_vod_uploads_started_total", Help: "Uploads created (a resumed upload is not counted again).",
		}),
		UploadsCompleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_vod_uploads_completed_total", Help: "Uploads stored whole, checksum verified, and queued for processing.",
		}),
		UploadsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_vod_uploads_failed_total",
			Help: "Upload calls that ended in an error, by gRPC code (Canceled: the client went away, and may resume; " +
				"DataLoss: checksum mismatch; InvalidArgument, PermissionDenied, ResourceExhausted: refused; Unavailable: storage or store down).",
		}, []string{"code"}),
		UploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_vod_upload_received_bytes_total", Help: "Upload bytes received from clients.",
		}),
		Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_vod_processing_jobs_total",
			Help: "Processing attempts that ended, by outcome: ready, failed (for good) or retry (queued again).",
		}, []string{"outcome"}),
		ProcessingTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nagare_vod_processing_duration_seconds", Help: "Time from claiming a job to the video being ready (the attempt that made it ready).",
			Buckets: []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
		}),
		ProcessingRatio: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nagare_vod_processing_speed_ratio", Help: "Processing time of a video made ready divided by its media duration (1: real time).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10},
		}),
		PlaybackRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_vod_playback_requests_total", Help: "Playback HTTP requests by kind (mp4, hls, poster, storyboard, invalid) and status code.",
		}, []string{"kind", "code"}),
		PlaybackBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_vod_playback_sent_bytes_total", Help: "Playback response body bytes sent, by kind.",
		}, []string{"kind"}),
	}
	for _, o := range []string{OutcomeReady, OutcomeFailed, OutcomeRetry} {
		m.Jobs.WithLabelValues(o)
	}
	reg.MustRegister(m.UploadsStarted, m.UploadsCompleted, m.UploadsFailed, m.UploadBytes, m.Jobs, m.ProcessingTime,
		m.ProcessingRatio, m.PlaybackRequests, m.PlaybackBytes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if lib != nil {
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		reg.MustRegister(&libraryCollector{lib: lib, log: log})
	}
	return m
}

// UploadStarted counts a new upload.
func (m *Metrics) UploadStarted() {
	if m != nil {
		m.UploadsStarted.Inc()
	}
}

// UploadCompleted counts an upload stored whole.
func (m *Metrics) UploadCompleted() {
	if m != nil {
		m.UploadsCompleted.Inc()
	}
}

// UploadFailed counts an upload call that ended in an error.
func (m *Metrics) UploadFailed(code codes.Code) {
	if m != nil {
		m.UploadsFailed.WithLabelValues(code.String()).Inc()
	}
}

// Received counts upload bytes.
func (m *Metrics) Received(n int) {
	if m != nil {
		m.UploadBytes.Add(float64(n))
	}
}

// Processed counts a finished processing attempt; a ready video's processing time (and, when its media
// duration is known, their ratio) is observed.
func (m *Metrics) Processed(outcome string, took, media time.Duration) {
	if m == nil {
		return
	}
	m.Jobs.WithLabelValues(outcome).Inc()
	if outcome != OutcomeReady {
		return
	}
	m.ProcessingTime.Observe(took.Seconds())
	if media > 0 {
		m.ProcessingRatio.Observe(took.Seconds() / media.Seconds())
	}
}

// Served counts a playback answer of kind with its status code and body bytes.
func (m *Metrics) Served(kind string, code int, bytes int64) {
	if m == nil {
		return
	}
	m.PlaybackRequests.WithLabelValues(kind, strconv.Itoa(code)).Inc()
	if bytes > 0 {
		m.PlaybackBytes.WithLabelValues(kind).Add(float64(bytes))
	}
}

// Library is what the gauges read at scrape time (store.SQL).
type Library interface {
	JobCounts(ctx context.Context) (queued, running int, err error)
	StatusCounts(ctx context.Context) (map[store.Status]int, error)
}

// scrapeTimeout bounds the store's queries of one scrape.
const scrapeTimeout = 3 * time.Second

var (
	jobsDesc = prometheus.NewDesc("nagare_vod_jobs",
		"Processing jobs by state (queued: waiting, retries included; running: under a worker's lease), library-wide: "+
			"services sharing a store report the same numbers.", []string{"state"}, nil)
	videosDesc = prometheus.NewDesc("nagare_vod_videos",
		"Videos in the library by status, library-wide: services sharing a store report the same numbers.", []string{"status"}, nil)
)

// libraryCollector reads the gauges of the shared library from the store. A store that does not answer
// leaves the scrape without them (the service's health check reports the store) rather than failing it.
type libraryCollector struct {
	lib Library
	log *slog.Logger
}

func (c *libraryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- videosDesc
}

func (c *libraryCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if queued, running, err := c.lib.JobCounts(ctx); err != nil {
		c.log.Warn("metrics: counting the processing jobs", "err", err)
	} else {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(queued), "queued")
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(running), "running")
	}
	counts, err := c.lib.StatusCounts(ctx)
	if err != nil {
		c.log.Warn("metrics: counting the videos", "err", err)
		return
	}
	for _, s := range []store.Status{store.Uploading, store.Processing, store.Ready, store.Failed} {
		ch <- prometheus.MustNewConstMetric(videosDesc, prometheus.GaugeValue, float64(counts[s]), s.String())
	}
}
