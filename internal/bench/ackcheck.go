package bench

import (
	"context"
	"log/slog"
	"time"
)

// AckCheck tells whether a server keeps a publisher that asks it to acknowledge what it receives (RTMP
// Window Acknowledgement Size), as gortmplib-based publishers do.
type AckCheck struct {
	Server         string  `json:"server"`
	AckWindowBytes uint32  `json:"ackWindowBytes"`
	Seconds        float64 `json:"seconds"` // how long the publication was meant to last
	Dropped        bool    `json:"dropped"`
	DroppedAfterS  float64 `json:"droppedAfterSeconds,omitempty"`
	Error          string  `json:"error,omitempty"`
}

func runAckCheck(ctx context.Context, srv server, clip *Clip, window uint32, d time.Duration, log *slog.Logger) *AckCheck {
	p := &Publisher{URL: srv.publishURL(streamName("ack-")), Clip: clip, Duration: d, AckWindow: window}
	err := p.Run(ctx)
	res := &AckCheck{Server: srv.Kind, AckWindowBytes: window, Seconds: d.Seconds()}
	if err != nil && ctx.Err() == nil {
		res.Dropped, res.Error = true, err.Error()
		res.DroppedAfterS = time.Since(p.Dialed).Seconds()
	}
	log.Info("ack check", "server", srv.Kind, "dropped", res.Dropped, "after", res.DroppedAfterS, "error", res.Error)
	return res
}
