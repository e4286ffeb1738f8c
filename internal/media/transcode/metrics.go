package transcode

import "github.com/prometheus/client_golang/prometheus"

var (
	jobsDesc = prometheus.NewDesc("nagare_transcode_streams",
		"Streams being transcoded (ffmpeg up or restarting).", nil, nil)
	restartsDesc = prometheus.NewDesc("nagare_transcode_restarts_total",
		"ffmpeg restarts of a transcoded stream (crash, hang, failed rendition).", []string{"stream"}, nil)
	droppedDesc = prometheus.NewDesc("nagare_transcode_dropped_units_total",
		"Source units lost because ffmpeg did not keep up.", []string{"stream"}, nil)
	speedDesc = prometheus.NewDesc("nagare_transcode_speed",
		"Media time a rung makes per wall-clock time (below 1: it falls behind).", []string{"stream", "rung"}, nil)
	delayDesc = prometheus.NewDesc("nagare_transcode_delay_seconds",
		"How far a rung's latest frame is behind the latest source frame given to ffmpeg.", []string{"stream", "rung"}, nil)
)

// Describe implements prometheus.Collector.
func (t *Transcoder) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{jobsDesc, restartsDesc, droppedDesc, speedDesc, delayDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the figures of the live jobs, read at scrape time.
func (t *Transcoder) Collect(ch chan<- prometheus.Metric) {
	stats := t.Stats()
	ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(len(stats)))
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(s.Restarts), s.Stream)
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(s.Dropped), s.Stream)
		for _, r := range s.Rungs {
			ch <- prometheus.MustNewConstMetric(speedDesc, prometheus.GaugeValue, r.Speed, s.Stream, r.Name)
			ch <- prometheus.MustNewConstMetric(delayDesc, prometheus.GaugeValue, r.Delay.Seconds(), s.Stream, r.Name)
		}
	}
}
