package webrtc

import (
	"bufio"
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
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// audioQueue is how many audio frames may wait for ffmpeg (about 2 s) before new ones are dropped.
const audioQueue = 96

// transcoder keeps one ffmpeg process running for a stream, restarted with a backoff when it exits (its
// stderr in the log), until stop. WebRTC has no AAC and Apple's older HLS players no Opus: one of these
// turns a stream's audio into the other codec where it is needed.
type transcoder struct {
	name   string // "AAC to Opus", for the log
	ffmpeg string
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	stderr bytes.Buffer
}

func newTranscoder(name, ffmpeg string, log *slog.Logger) transcoder {
	ctx, cancel := context.WithCancel(context.Background())
	return transcoder{name: name, ffmpeg: ffmpeg, log: log.With("component", "ffmpeg", "transcode", name), ctx: ctx, cancel: cancel}
}

func (t *transcoder) stop() { t.cancel() }

// loop runs once until stop, with a backoff between runs.
func (t *transcoder) loop(once func(ctx context.Context) error) {
	backoff := time.Second
	for t.ctx.Err() == nil {
		started := time.Now()
		err := once(t.ctx)
		if t.ctx.Err() != nil {
			return
		}
		t.log.Warn("ffmpeg exited; restarting it", "cause", err, "stderr", strings.TrimSpace(t.stderrTail()), "restartIn", backoff)
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-t.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// start starts ffmpeg with args after the common input options; stdout is nil unless wanted.
func (t *transcoder) start(ctx context.Context, wantStdout bool, args ...string) (*exec.Cmd, io.WriteCloser, io.Reader, error) {
	all := append([]string{"-hide_banner", "-loglevel", "error", "-fflags", "nobuffer", "-probesize", "32",
		"-analyzeduration", "0"}, args...)
	cmd := exec.CommandContext(ctx, t.ffmpeg, all...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	var stdout io.Reader
	if wantStdout {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, nil, nil, err
		}
	}
	t.mu.Lock()
	t.stderr.Reset()
	t.mu.Unlock()
	cmd.Stderr = lockedWriter{&t.mu, &t.stderr}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("starting %s: %w", t.ffmpeg, err)
	}
	t.log.Info("transcoding audio", "pid", cmd.Process.Pid)
	return cmd, stdin, stdout, nil
}

func (t *transcoder) stderrTail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.stderr.Bytes()
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

// aacToOpus turns a stream's AAC into Opus for its WebRTC viewers: started with the stream's first
// WebRTC viewer, it reads ADTS on ffmpeg's stdin and takes Opus RTP from a loopback UDP port, placed on
// the stream's timeline at the first AAC frame each process was given.
type aacToOpus struct {
	transcoder
	cfg *stream.MPEG4Audio
	in  chan *stream.Unit

	mu    sync.Mutex
	first time.Duration // PTS of the first frame the current process was fed
	fed   bool
}

func newAACToOpus(ffmpeg string, cfg *stream.MPEG4Audio, log *slog.Logger) *aacToOpus {
	return &aacToOpus{transcoder: newTranscoder("AAC to Opus", ffmpeg, log), cfg: cfg, in: make(chan *stream.Unit, audioQueue)}
}

// feed queues an AAC unit without blocking the stream's reader.
func (a *aacToOpus) feed(u *stream.Unit) {
	select {
	case a.in <- u:
	default:
	}
}

// run writes the Opus into h, its RTP timestamps from base, until stop.
func (a *aacToOpus) run(h *hub, base uint32) {
	a.loop(func(ctx context.Context) error {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		cmd, stdin, _, err := a.start(ctx, false, "-f", "aac", "-i", "pipe:0",
			"-vn", "-c:a", "libopus", "-b:a", "64k", "-ar", "48000", "-ac", "2", "-application", "lowdelay", "-frame_duration", "20",
			"-f", "rtp", "-payload_type", "111", fmt.Sprintf("rtp://%s?pkt_size=%d", conn.LocalAddr(), rtpMTU))
		if err != nil {
			return err
		}
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
	})
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

// AACConfig is the audio of the AAC track nagare adds to WHIP publications for HLS.
var AACConfig = mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2, ChannelConfig: 2}

// opusToAAC turns a WHIP publication's Opus into AAC for its HLS (players without Opus: Safari before 17,
// many TVs): Ogg Opus on ffmpeg's stdin, ADTS on its stdout, written to the stream as an AAC track placed
// at the PTS of the first Opus packet each process was given.
type opusToAAC struct {
	transcoder
	in chan opusPacket

	mu    sync.Mutex
	first time.Duration
	fed   bool
}

type opusPacket struct {
	pkt *rtp.Packet
	pts time.Duration
}

func newOpusToAAC(ffmpeg string, log *slog.Logger) *opusToAAC {
	return &opusToAAC{transcoder: newTranscoder("Opus to AAC", ffmpeg, log), in: make(chan opusPacket, audioQueue)}
}

func (o *opusToAAC) feed(pkt *rtp.Packet, pts time.Duration) {
	select {
	case o.in <- opusPacket{pkt, pts}:
	default:
	}
}

// run writes AAC units of track to st until stop.
func (o *opusToAAC) run(st *stream.Stream, track *stream.Track) {
	o.loop(func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		cmd, stdin, stdout, err := o.start(ctx, true, "-f", "ogg", "-i", "pipe:0",
			"-vn", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-f", "adts", "pipe:1")
		if err != nil {
			return err
		}
		o.mu.Lock()
		o.fed = false
		o.mu.Unlock()
		go o.writeOgg(ctx, stdin)
		o.readADTS(stdout, st, track)
		cancel()
		return cmd.Wait()
	})
}

func (o *opusToAAC) writeOgg(ctx context.Context, w io.WriteCloser) {
	defer w.Close()
	ogg, err := oggwriter.NewWith(w, 48000, 2)
	if err != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-o.in:
			o.mu.Lock()
			if !o.fed {
				o.fed, o.first = true, p.pts
			}
			o.mu.Unlock()
			if err := ogg.WriteRTP(p.pkt); err != nil {
				return
			}
		}
	}
}

// readADTS cuts ffmpeg's ADTS into AAC frames (1024 samples each) and writes them to the stream.
func (o *opusToAAC) readADTS(r io.Reader, st *stream.Stream, track *stream.Track) {
	br := bufio.NewReader(r)
	var frames int64
	for {
		hdr, err := br.Peek(7)
		if err != nil {
			return
		}
		if hdr[0] != 0xFF || hdr[1]&0xF0 != 0xF0 {
			_, _ = br.Discard(1) // resynchronise
			continue
		}
		size := int(hdr[3]&0x03)<<11 | int(hdr[4])<<3 | int(hdr[5])>>5
		if size < 7 {
			_, _ = br.Discard(1)
			continue
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		var pkts mpeg4audio.ADTSPackets
		if err := pkts.Unmarshal(buf); err != nil || len(pkts) != 1 {
			continue
		}
		o.mu.Lock()
		first := o.first
		o.mu.Unlock()
		pts := first + time.Duration(frames*1024*int64(time.Second)/48000)
		frames++
		au := pkts[0].AU
		st.Write(&stream.Unit{Track: track, NTP: time.Now(), PTS: pts, Payload: [][]byte{au}, Size: len(au)})
	}
}
