// Package webrtctest is the WHIP publisher of tests: pion sending an H.264 test pattern and an Opus tone,
// encoded once by ffmpeg, in real time and looped, as a browser or an encoder would.
package webrtctest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/webrtc/client"
	"github.com/nagare-video/nagare/internal/testutil/fftest"
)

// FPS is the frame rate of the published pattern; a keyframe comes every second.
const FPS = 30

var mediaMu sync.Mutex

// mediaFiles returns the H.264 (Annex-B, constrained baseline, no B-frames) and Ogg Opus files,
// encoded once per machine.
func mediaFiles(t testing.TB) (h264, ogg string) {
	t.Helper()
	fftest.Require(t)
	mediaMu.Lock()
	defer mediaMu.Unlock()
	dir := filepath.Join(os.TempDir(), "nagare-test-clips")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	h264, ogg = filepath.Join(dir, "whip-v1.h264"), filepath.Join(dir, "whip-v1.ogg")
	for _, f := range []struct {
		path string
		args []string
	}{
		{h264, []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=640x360:rate=%d", FPS), "-t", "10",
			"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-bf", "0",
			"-g", fmt.Sprint(FPS), "-keyint_min", fmt.Sprint(FPS), "-sc_threshold", "0", "-b:v", "800k", "-f", "h264"}},
		{ogg, []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "10",
			"-c:a", "libopus", "-b:a", "64k", "-ac", "2", "-page_duration", "20000", "-f", "ogg"}},
	} {
		if _, err := os.Stat(f.path); err == nil {
			continue
		}
		tmp := f.path + fmt.Sprintf(".%d.tmp", os.Getpid())
		args := append([]string{"-hide_banner", "-loglevel", "error", "-y"}, append(f.args, tmp)...)
		out, err := exec.Command("ffmpeg", args...).CombinedOutput()
		require.NoError(t, err, "encoding %s: %s", f.path, out)
		require.NoError(t, os.Rename(tmp, f.path))
	}
	return h264, ogg
}

// Publisher is a running WHIP publication.
type Publisher struct {
	*client.Session
	// PLIs counts the keyframe requests (PLI, FIR) the publisher received.
	PLIs   atomic.Int64
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Publish starts a WHIP publication at endpoint (token as the bearer, "" for none); it stops when the
// test ends. A refused offer is returned as *client.StatusError.
func Publish(t testing.TB, endpoint, token string) (*Publisher, error) {
	t.Helper()
	h264, ogg := mediaFiles(t)
	api, err := client.NewAPI()
	require.NoError(t, err)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264,
		ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "whip")
	require.NoError(t, err)
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus,
		ClockRate: 48000, Channels: 2}, "audio", "whip")
	require.NoError(t, err)
	var senders []*webrtc.RTPSender
	for _, tr := range []webrtc.TrackLocal{video, audio} {
		tc, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		require.NoError(t, err)
		senders = append(senders, tc.Sender())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Negotiate(ctx, &http.Client{Timeout: 10 * time.Second}, pc, endpoint, token)
	if err != nil {
		pc.Close()
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	p := &Publisher{Session: s, cancel: stop}
	for _, sender := range senders {
		client.OnKeyframeRequest(sender, func() { p.PLIs.Add(1) })
	}
	p.done.Add(2)
	go func() {
		defer p.done.Done()
		loop(runCtx, h264, func(f *os.File) error { return sendVideo(runCtx, f, video) })
	}()
	go func() {
		defer p.done.Done()
		loop(runCtx, ogg, func(f *os.File) error { return sendAudio(runCtx, f, audio) })
	}()
	t.Cleanup(p.Stop)
	return p, nil
}

// Stop ends the publication with DELETE, as a publisher that leaves properly does.
func (p *Publisher) Stop() {
	p.cancel()
	p.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.Close(ctx)
}

// Vanish stops sending and closes the peer connection without DELETE, as a crashed publisher would.
func (p *Publisher) Vanish() {
	p.cancel()
	p.done.Wait()
	_ = p.PC.Close()
}

func loop(ctx context.Context, path string, send func(*os.File) error) {
	for ctx.Err() == nil {
		f, err := os.Open(path)
		if err != nil {
			return
		}
		err = send(f)
		f.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			return
		}
	}
}

// sendVideo sends one NAL unit per sample, a frame every 1/FPS s; parameter sets go with the next
// frame (pion's payloader puts them in a STAP-A).
func sendVideo(ctx context.Context, f *os.File, track *webrtc.TrackLocalStaticSample) error {
	r, err := h264reader.NewReader(f)
	if err != nil {
		return err
	}
	tick := time.NewTicker(time.Second / FPS)
	defer tick.Stop()
	for {
		nal, err := r.NextNAL()
		if err != nil {
			return err
		}
		switch nal.UnitType {
		case h264reader.NalUnitTypeSPS, h264reader.NalUnitTypePPS:
			if err := track.WriteSample(media.Sample{Data: nal.Data}); err != nil {
				return err
			}
			continue
		case h264reader.NalUnitTypeCodedSliceIdr, h264reader.NalUnitTypeCodedSliceNonIdr:
		default:
			continue // SEI, AUD: not needed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := track.WriteSample(media.Sample{Data: nal.Data, Duration: time.Second / FPS}); err != nil {
			return err
		}
	}
}

// sendAudio sends one Ogg page (one 20 ms Opus packet) every 20 ms.
func sendAudio(ctx context.Context, f *os.File, track *webrtc.TrackLocalStaticSample) error {
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		page, hdr, err := r.ParseNextPage()
		if err != nil {
			return err
		}
		if hdr.GranulePosition == 0 || len(page) == 0 { // the header pages
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := track.WriteSample(media.Sample{Data: page, Duration: 20 * time.Millisecond}); err != nil {
			return err
		}
	}
}
