package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/nagare-video/nagare/internal/media/webrtc/client"
)

// Publish to first WHEP frame: a publisher starts, and a WHEP viewer at the edge offers every poll
// interval until the edge answers (the stream is live there), then counts the time to the first packet
// of a keyframe. A WHIP publisher answers the keyframe request a new viewer causes at once, as a browser
// does; an RTMP publisher cannot be asked, so the viewer waits for the next one.

// whipPublisher sends a clip's video over WHIP in real time, looping, as a browser or an encoder would:
// it starts once ICE and DTLS are up (with the clip's first keyframe) and answers a PLI or FIR with the
// clip's next keyframe, sent at once.
type whipPublisher struct {
	API      *webrtc.API
	Endpoint string
	Token    string
	Clip     *Clip

	keyframe atomic.Bool
	started  time.Time
	// plis counts the keyframe requests (PLI, FIR) received, firstPLI is when the first came after Run
	// started (ns; 0: none); keyframes counts the keyframes sent. All may be read once Run has returned.
	plis, firstPLI, keyframes atomic.Int64
}

// Run publishes until ctx is cancelled, then ends the session with DELETE.
func (p *whipPublisher) Run(ctx context.Context) error {
	p.started = time.Now()
	pc, err := p.API.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264Fmtp(p.Clip.SPS),
	}, "video", "bench")
	if err != nil {
		return err
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return err
	}
	client.OnKeyframeRequest(sender, func() {
		p.keyframe.Store(true)
		if p.plis.Add(1) == 1 {
			p.firstPLI.Store(int64(time.Since(p.started)))
		}
	})
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sess, err := client.Negotiate(nctx, &http.Client{Timeout: 10 * time.Second}, pc, p.Endpoint, p.Token)
	if err != nil {
		return fmt.Errorf("WHIP %s: %w", p.Endpoint, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sess.Close(cctx)
	}()
	select {
	case <-connected:
	case <-nctx.Done():
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("WHIP %s: ICE and DTLS did not connect within 10s", p.Endpoint)
	}
	return p.send(ctx, track)
}

// send writes the clip's video frames at their times, jumping to the next keyframe when one is asked for.
func (p *whipPublisher) send(ctx context.Context, track *webrtc.TrackLocalStaticSample) error {
	var video []Frame
	for _, f := range p.Clip.Frames {
		if f.Video {
			video = append(video, f)
		}
	}
	frameDur := p.Clip.Period / time.Duration(len(video))
	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	for n, i := 0, 0; ; n, i = n+1, (i+1)%len(video) {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		if p.keyframe.Swap(false) && !video[i].Key {
			i = nextKeyframe(video, i)
		}
		f := video[i]
		if f.Key {
			p.keyframes.Add(1)
		}
		if err := track.WriteSample(media.Sample{Data: annexB(f.AU, f.Key, p.Clip.SPS, p.Clip.PPS), Duration: frameDur}); err != nil {
			return fmt.Errorf("sending video: %w", err)
		}
		timer.Reset(time.Until(start.Add(time.Duration(n+1) * frameDur)))
	}
}

// nextKeyframe returns the index of the first keyframe after i (wrapping; i itself if it is the only one).
func nextKeyframe(video []Frame, i int) int {
	for j := 1; j <= len(video); j++ {
		if k := (i + j) % len(video); video[k].Key {
			return k
		}
	}
	return i
}

// annexB writes an access unit in Annex-B form, with the parameter sets in front of a keyframe that lacks
// them.
func annexB(au [][]byte, key bool, sps, pps []byte) []byte {
	hasParams := false
	for _, n := range au {
		if len(n) > 0 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS {
			hasParams = true
		}
	}
	if key && !hasParams {
		au = append([][]byte{sps, pps}, au...)
	}
	var b []byte
	for _, n := range au {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

// h264Fmtp is the fmtp line of an H.264 track with sps's profile (level 3.1: the line selects the codec
// the peers registered, and they register profiles at that level).
func h264Fmtp(sps []byte) string {
	plid := "42e01f"
	if len(sps) >= 4 {
		plid = fmt.Sprintf("%02x%02x1f", sps[1], sps[2])
	}
	return "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + plid
}

// WebRTCStartRun is one publication's timing, in ms after the publisher started (WHIP: before its offer;
// RTMP: before it connected).
type WebRTCStartRun struct {
	Publisher string  `json:"publisher"` // whip or rtmp
	Run       int     `json:"run"`
	Stream    string  `json:"stream"`
	LiveMs    float64 `json:"liveMs"`     // the edge answered the viewer's offer (201)
	FirstKey  float64 `json:"firstKeyMs"` // the first packet of a keyframe reached the viewer
	Offers    int     `json:"offers"`     // offers the viewer made (the 404s before the 201 included)
	// WHIP: the keyframe requests the publisher received, the first one's time, and the keyframes it sent.
	PLIs       int     `json:"plis,omitempty"`
	FirstPLIMs float64 `json:"firstPliMs,omitempty"`
	Keyframes  int     `json:"keyframes,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// WebRTCStartResult is what `nagare bench webrtc-start` measured.
type WebRTCStartResult struct {
	phaseRun
	PollMs float64          `json:"pollMs"`
	Clip   string           `json:"clip"`
	Runs   []WebRTCStartRun `json:"runs"`
}

// startSummary is the median, min and max of one publisher's runs that reached a keyframe.
type startSummary struct {
	N, Failed                             int
	LiveMedian, KeyMedian, KeyMin, KeyMax float64
}

func (r *WebRTCStartResult) summary(publisher string) startSummary {
	var live, key []float64
	var s startSummary
	for _, run := range r.Runs {
		if run.Publisher != publisher {
			continue
		}
		if run.Error != "" {
			s.Failed++
			continue
		}
		live = append(live, run.LiveMs)
		key = append(key, run.FirstKey)
	}
	slices.Sort(live)
	slices.Sort(key)
	s.N = len(key)
	s.LiveMedian, s.KeyMedian = Percentile(live, 50), Percentile(key, 50)
	s.KeyMin, s.KeyMax = Percentile(key, 0), Percentile(key, 100)
	return s
}

// cmdWebRTCStart times publish → first WHEP keyframe at an edge, for WHIP and RTMP publishers.
func cmdWebRTCStart(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("webrtc-start", stderr)
	origin := fs.String("origin", "", "HTTP base URL of the origin (WHIP)")
	edge := fs.String("edge", "", "HTTP base URL of an edge of that origin (the viewer's WHEP)")
	rtmpBase := fs.String("rtmp", "", "RTMP base URL of the origin with the application, e.g. rtmp://127.0.0.1:1935/live")
	app := fs.String("app", "live", "application of the streams (and of -rtmp)")
	clipPath := fs.String("clip", "", "MPEG-TS clip (H.264, no B-frames; + AAC for RTMP)")
	publishers := fs.String("publishers", "whip,rtmp", "publishers to time, taking turns")
	runs := fs.Int("runs", 5, "publications of each publisher")
	poll := fs.Duration("poll", 20*time.Millisecond, "time between the viewer's offers while the edge answers 404")
	limit := fs.Duration("timeout", 15*time.Second, "longest wait for the first keyframe")
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	kinds := strings.Split(*publishers, ",")
	for _, k := range kinds {
		if k != "whip" && k != "rtmp" {
			return usageErr("-publishers: unknown publisher %q", k)
		}
	}
	if *origin == "" || *edge == "" || *rtmpBase == "" || *clipPath == "" || *out == "" || *runs < 1 || *poll <= 0 {
		return usageErr("-origin, -edge, -rtmp, -clip and -out are required, -runs at least 1, -poll positive")
	}
	clip, err := LoadClip(*clipPath)
	if err != nil {
		return err
	}
	api, err := client.NewAPI()
	if err != nil {
		return err
	}
	res := &WebRTCStartResult{PollMs: float64(*poll) / 1e6, Clip: *clipPath}
	var began time.Time
	res.phaseRun, began = startPhaseRun()
	suffix := strconv.FormatInt(time.Now().Unix()%100000, 10)
	for i := 1; i <= *runs; i++ {
		for _, kind := range kinds {
			name := fmt.Sprintf("wstart-%s-%s-%d", kind, suffix, i)
			run := WebRTCStartRun{Publisher: kind, Run: i, Stream: *app + "/" + name}
			var pub func(context.Context) error
			var whip *whipPublisher
			if kind == "whip" {
				whip = &whipPublisher{API: api, Endpoint: strings.TrimSuffix(*origin, "/") + "/" + run.Stream + "/whip", Clip: clip}
				pub = whip.Run
			} else {
				p := &Publisher{URL: strings.TrimSuffix(*rtmpBase, "/") + "/" + name, Clip: clip}
				pub = p.Run
			}
			timeStart(ctx, &run, api, strings.TrimSuffix(*edge, "/")+"/"+run.Stream+"/whep", pub, *poll, *limit)
			if whip != nil {
				run.PLIs, run.FirstPLIMs, run.Keyframes = int(whip.plis.Load()), ms(time.Duration(whip.firstPLI.Load())), int(whip.keyframes.Load())
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			log.Info("webrtc start", "publisher", kind, "run", i, "liveMs", run.LiveMs, "firstKeyMs", run.FirstKey, "offers", run.Offers, "err", run.Error)
			res.Runs = append(res.Runs, run)
			if err := sleepCtx(ctx, 500*time.Millisecond); err != nil { // the publication's end reaches the edge
				return err
			}
		}
	}
	res.end(began)
	if err := writeJSON(*out, res); err != nil {
		return err
	}
	for _, k := range kinds {
		s := res.summary(k)
		fmt.Fprintf(stdout, "%s: publish → first WHEP keyframe at the edge, median %s ms over %d runs (%d failed)\n", k, num(s.KeyMedian), s.N, s.Failed)
		if s.N == 0 {
			return fmt.Errorf("%s: no run reached a keyframe", k)
		}
	}
	return nil
}

// timeStart starts pub and a viewer polling endpoint at the same moment, and records in run when the
// endpoint answered and when the first keyframe packet arrived.
func timeStart(ctx context.Context, run *WebRTCStartRun, api *webrtc.API, endpoint string,
	pub func(context.Context) error, poll, limit time.Duration,
) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	pctx, stopPub := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var pubErr error
	t0 := time.Now()
	wg.Go(func() { pubErr = pub(pctx) })
	defer func() {
		stopPub()
		wg.Wait()
	}()
	hc := &http.Client{Timeout: 10 * time.Second}
	var v *client.Viewer
	for v == nil {
		run.Offers++
		var err error
		v, err = client.Watch(ctx, api, hc, endpoint)
		var se *client.StatusError
		switch {
		case err == nil:
		case errors.As(err, &se) && se.Status == http.StatusNotFound:
			if sleepCtx(ctx, poll) != nil {
				run.Error = fmt.Sprintf("not live at the edge within %s (publisher: %v)", limit, pubErr)
				return
			}
		default:
			run.Error = fmt.Sprintf("WHEP: %v (publisher: %v)", err, pubErr)
			return
		}
	}
	run.LiveMs = ms(time.Since(t0))
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = v.Close(cctx)
	}()
	for v.FirstKeyframe() == 0 {
		if sleepCtx(ctx, 2*time.Millisecond) != nil {
			run.Error = fmt.Sprintf("no keyframe within %s (publisher: %v)", limit, pubErr)
			return
		}
	}
	run.FirstKey = ms(v.Started.Add(v.FirstKeyframe()).Sub(t0))
}
