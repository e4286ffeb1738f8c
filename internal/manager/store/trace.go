package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

// ---- the autoscaler's trace ----

// TraceSample is what the autoscaler saw of one group's role at one tick. Load, Predicted, High (the
// scale-out alarm) and Low (the scale-in low-water mark) are percentages of the in-service capacity;
// Nodes counts the nodes in service.
type TraceSample struct {
	Group     string
	Role      nodemodel.Role
	At        time.Time
	Load      float64
	Predicted float64
	Nodes     int
	High      float64
	Low       float64
}

// traceRowsPerInsert keeps one INSERT's placeholders under both engines' limits (SQLite's 32766).
const traceRowsPerInsert = 1000

// AddTraceSamples stores samples, in one INSERT (a batch larger than traceRowsPerInsert takes more).
func (s *SQL) AddTraceSamples(ctx context.Context, samples []TraceSample) error {
	for _, t := range samples {
		if err := checkFields(field{"group", t.Group, MaxName}, field{"role", string(t.Role), MaxRole}); err != nil {
			return fmt.Errorf("trace sample: %w", err)
		}
	}
	for len(samples) > 0 {
		batch := samples[:min(len(samples), traceRowsPerInsert)]
		samples = samples[len(batch):]
		var q strings.Builder
		q.WriteString(`INSERT INTO trace_samples (group_name, role, at, load_pct, predicted, nodes, high, low) VALUES `)
		args := make([]any, 0, 8*len(batch))
		for i, t := range batch {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(`(?,?,?,?,?,?,?,?)`)
			args = append(args, t.Group, t.Role, ms(t.At), finite(t.Load), finite(t.Predicted), t.Nodes, finite(t.High), finite(t.Low))
		}
		if _, err := s.exec(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("storing %d trace samples: %w", len(batch), err)
		}
	}
	return nil
}

// TraceSamples returns the samples taken after since, oldest first.
func (s *SQL) TraceSamples(ctx context.Context, since time.Time) ([]TraceSample, error) {
	out, err := list(ctx, s, `SELECT group_name, role, at, load_pct, predicted, nodes, high, low FROM trace_samples
		WHERE at > ? ORDER BY at, id`, func(r scanner) (TraceSample, error) {
		var t TraceSample
		var at int64
		err := r.Scan(&t.Group, &t.Role, &at, &t.Load, &t.Predicted, &t.Nodes, &t.High, &t.Low)
		t.At = fromMS(at)
		return t, err
	}, ms(since))
	if err != nil {
		return nil, fmt.Errorf("reading trace samples: %w", err)
	}
	return out, nil
}

// DeleteTraceSamples removes the samples taken before before.
func (s *SQL) DeleteTraceSamples(ctx context.Context, before time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM trace_samples WHERE at < ?`, ms(before)); err != nil {
		return fmt.Errorf("deleting old trace samples: %w", err)
	}
	return nil
}
