package autoscaler

import (
	"math"

	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the autoscaler's Prometheus series.
type Metrics struct {
	Load        *prometheus.GaugeVec // group, role: measured load in percent
	Predicted   *prometheus.GaugeVec // group, role: load projected over the warm-up, in percent
	Nodes       *prometheus.GaugeVec // group, role: pending, running and in-service nodes
	Threshold   *prometheus.GaugeVec // group, role: the scale-out alarm, in percent
	LowWater    *prometheus.GaugeVec // group, role: the scale-in mark, in percent
	Decisions   *prometheus.CounterVec
	TickSeconds prometheus.Histogram
	CloudUp     *prometheus.GaugeVec // controller: 1 while it answers, 0 while it does not
}

// NewMetrics registers the series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Load: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nagare_autoscaler_load_percent", Help: "Connections over capacity of the in-service nodes, by group and role.",
		}, []string{"group", "role"}),
		Predicted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nagare_autoscaler_predicted_load_percent", Help: "Load projected over the warm-up time from its recent trend.",
		}, []string{"group", "role"}),
		Nodes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nagare_autoscaler_nodes", Help: "Pending, running and in-service nodes, by group and role.",
		}, []string{"group", "role"}),
		Threshold: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nagare_autoscaler_threshold_percent", Help: "The load above which the role scales out, by group and role.",
		}, []string{"group", "role"}),
		LowWater: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nagare_autoscaler_low_water_percent", Help: "The load (with one node fewer) below which the role scales in, by group and role.",
		}, []string{"group", "role"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_autoscaler_actions_total", Help: "Autoscaler actions by kind (minimum, scale-out, scale-in, replace, drained, …).",
		}, []string{"action"}),
		TickSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nagare_autoscaler_tick_seconds", Help: "Time of one autoscaler round over every group.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		CloudUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nagare_autoscaler_cloud_up", Help: "1 while the cloud controller answers, 0 while it does not (nothing is launched or terminated then).",
		}, []string{"controller"}),
	}
	reg.MustRegister(m.Load, m.Predicted, m.Nodes, m.Threshold, m.LowWater, m.Decisions, m.TickSeconds, m.CloudUp)
	return m
}

func (m *Metrics) observe(group string, role nodemodel.Role, in Input, d Decision, nodes int) {
	m.Threshold.WithLabelValues(group, string(role)).Set(in.Threshold * 100)
	m.LowWater.WithLabelValues(group, string(role)).Set(in.LowWater * 100)
	m.Load.WithLabelValues(group, string(role)).Set(capPct(d.Load))
	m.Predicted.WithLabelValues(group, string(role)).Set(capPct(d.Projected))
	m.Nodes.WithLabelValues(group, string(role)).Set(float64(nodes))
}

func capPct(f float64) float64 {
	if math.IsInf(f, 1) {
		return 1e7
	}
	return f * 100
}
