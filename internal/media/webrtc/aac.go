package webrtc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// aacQueue is how many AAC frames may wait for ffmpeg (about 2 s at 48 kHz) before new ones are dropped.
const aacQueue = 96

// aacToOpus turns a stream's AAC into Opus for WebRTC viewers, who have no AAC decoder: an ffmpeg
// process per stream, started when the stream's first WebRTC viewer arrives, reading ADTS on its stdin
// and sending Opus RTP to a loopback UDP port. Its timestamps are placed on the stream's timeline at the
// first AAC frame it was given.
type aacToOpus struct {
	ffmpeg string
	cfg    *stream.MPEG4Audio
	log    *slog.Logger

	in     chan *stream.Unit
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	first  time.Duration // PTS of the first frame fed
	fed    bool
	stderr bytes.Buffer
}

func newAACToOpus(ffmpeg string, cfg *stream.MPEG4Audio, log *slog.Logger) *aacToOpus {
	ctx, cancel := context.WithCancel(context.Background())
	return &aacToOpus{ffmpeg: ffmpeg, cfg: cfg, log: log.With("component", "aac-to-opus"),
		in: make(chan *stream.Unit, aacQueue), ctx: ctx, cancel: cancel}
}

// feed queues an AAC unit without blocking the stream's reader.
func (a *aacToOpus) feed(u *stream.Unit) {
	select {
	case a.in <- u:
	default:
	}
}

func (a *aacToOpus) stop() { a.cancel() }

// run keeps ffmpeg running (restarted with a backoff when it exits) until stop, writing its Opus into h.
func (a *aacToOpus) run(h *hub, base uint32) {
	backoff := time.Second
	for a.ctx.Err() == nil {
		started := time.Now()
		err := a.runOnce(h, base)
		if a.ctx.Err() != nil {
			return
		}
		a.log.Warn("ffmpeg (AAC to Opus) exited; WebRTC viewers lose audio until it restarts", "cause", err,
			"stderr", strings.TrimSpace(a.stderrTail()), "restartIn", backoff)
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-a.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (a *aacToOpus) stderrTail() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.stderr.Bytes()
	return string(b[max(0, len(b)-500):])
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (a *aacToOpus) runOnce(h *hub, base uint32) error {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.ffmpeg, "-hide_banner", "-loglevel", "error",
		"-fflags", "nobuffer", "-probesize", "32", "-analyzeduration", "0",
		"-f", "aac", "-i", "pipe:0",
		"-vn", "-c:a", "libopus", "-b:a", "64k", "-ar", "48000", "-ac", "2",
		"-application", "lowdelay", "-frame_duration", "20",
		"-f", "rtp", "-payload_type", "111", fmt.Sprintf("rtp://%s?pkt_size=%d", conn.LocalAddr(), rtpMTU))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.stderr.Reset()
	a.mu.Unlock()
	cmd.Stderr = lockedWriter{&a.mu, &a.stderr}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", a.ffmpeg, err)
	}
	a.log.Info("transcoding AAC to Opus for WebRTC viewers", "pid", cmd.Process.Pid)
	a.mu.Lock()
	a.fed = false // this process's timeline starts at the next frame it is given
	a.mu.Unlock()
	go a.writeADTS(ctx, stdin)
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	a.readOpus(conn, h, base)
	cancel()
	return cmd.Wait()
}

// writeADTS hands the queued AAC frames to ffmpeg as ADTS.
func (a *aacToOpus) writeADTS(ctx context.Context, w io.WriteCloser) {
	defer w.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-a.in:
			a.mu.Lock()
			if !a.fed {
				a.fed, a.first = true, u.PTS
			}
			a.mu.Unlock()
			pkts := make(mpeg4audio.ADTSPackets, 0, len(u.Payload))
			for _, au := range u.Payload {
				pkts = append(pkts, &mpeg4audio.ADTSPacket{Type: a.cfg.Config.Type, SampleRate: a.cfg.Config.SampleRate,
					ChannelConfig: a.cfg.Config.ChannelConfig, AU: au})
			}
			b, err := pkts.Marshal()
			if err != nil {
				continue
			}
			if _, err := w.Write(b); err != nil {
				return
			}
		}
	}
}

// readOpus forwards ffmpeg's Opus packets to the hub, re-timed onto the stream's timeline.
func (a *aacToOpus) readOpus(conn *net.UDPConn, h *hub, base uint32) {
	buf := make([]byte, 1500)
	var first uint32
	started := false
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(buf[:n]); err != nil || pkt.PayloadType != 111 {
			continue
		}
		if !started {
			started, first = true, pkt.Timestamp
		}
		a.mu.Lock()
		origin := a.first
		a.mu.Unlock()
		pkt.Timestamp = base + uint32(origin*48000/time.Second) + (pkt.Timestamp - first)
		pkt.Payload = append([]byte(nil), pkt.Payload...)
		h.writeAudio(&pkt)
	}
}
