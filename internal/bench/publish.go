package bench

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
)

// Publisher sends a clip over RTMP in real time, looping it, and can record when each video frame
// went out.
type Publisher struct {
	URL  string
	Clip *Clip
	// Duration stops the publication after this much media; 0 publishes until ctx is cancelled.
	Duration time.Duration
	// Record keeps the send time of every video frame in Sent.
	Record bool
	// AckWindow, if not 0, asks the server to acknowledge every AckWindow bytes, as gortmplib's client
	// does by default. Otherwise the publisher asks for no acknowledgements, like ffmpeg and OBS.
	AckWindow uint32

	// Dialed is when the connection was opened, Started when the first frame was sent. Sent lists the
	// video frames sent. All three may be read once Run has returned.
	Dialed  time.Time
	Started time.Time
	Sent    []SentFrame
}

// noAcks is an acknowledgement window no publication of the benchmark fills.
const noAcks = 1<<31 - 1

// SentFrame is a video frame as the publisher sent it.
type SentFrame struct {
	Media time.Duration // DTS of the frame, continuous across loops of the clip
	At    time.Time     // wall-clock time at which the write of the frame returned
	Key   bool
}

// Run publishes until the clip duration is reached or ctx is cancelled; cancelling is not an error.
func (p *Publisher) Run(ctx context.Context) error {
	u, err := rtmpURL(p.URL)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p.Dialed = time.Now()
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(dctx); err != nil {
		return fmt.Errorf("connecting to %s: %w", u.Host, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close) // unblocks a write stuck on a stalled server
	defer stop()

	// gortmplib's client has asked the server to acknowledge every 2.5 MB; ffmpeg and OBS ask for
	// nothing, and so does the benchmark unless told otherwise (see `nagare bench ackcheck`).
	window := p.AckWindow
	if window == 0 {
		window = noAcks
	}
	_ = c.NetConn().SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.Write(&message.SetWindowAckSize{Value: window}); err != nil {
		return p.ended(ctx, fmt.Errorf("setting the acknowledgement window: %w", err))
	}

	video := &gortmplib.Track{Codec: &rtmpcodecs.H264{SPS: p.Clip.SPS, PPS: p.Clip.PPS}}
	tracks := []*gortmplib.Track{video}
	var audio *gortmplib.Track
	if p.Clip.Audio != nil {
		audio = &gortmplib.Track{Codec: &rtmpcodecs.MPEG4Audio{Config: p.Clip.Audio}}
		tracks = append(tracks, audio)
	}
	w := &gortmplib.Writer{Conn: c, Tracks: tracks}
	_ = c.NetConn().SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := w.Initialize(); err != nil {
		return p.ended(ctx, fmt.Errorf("announcing tracks: %w", err))
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	p.Started = time.Now()
	for loop := 0; ; loop++ {
		offset := time.Duration(loop) * p.Clip.Period
		for i := range p.Clip.Frames {
			f := &p.Clip.Frames[i]
			media := offset + f.DTS
			if p.Duration > 0 && media >= p.Duration {
				return nil
			}
			if wait := time.Until(p.Started.Add(media)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
			}
			_ = c.NetConn().SetWriteDeadline(time.Now().Add(5 * time.Second))
			if f.Video {
				err = w.WriteH264(video, offset+f.PTS, media, f.AU)
			} else if audio != nil {
				err = w.WriteMPEG4Audio(audio, media, f.AU[0])
			}
			if err != nil {
				return p.ended(ctx, fmt.Errorf("sending media: %w", err))
			}
			if f.Video && p.Record {
				p.Sent = append(p.Sent, SentFrame{Media: media, At: time.Now(), Key: f.Key})
			}
		}
	}
}

func (p *Publisher) ended(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// rtmpURL turns rtmp://host/app/stream?query into the form gortmplib's client expects,
// rtmp://host/app#stream?query, so that servers which split app and stream name (nginx-rtmp) get both.
func rtmpURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("publish url: %w", err)
	}
	if u.Fragment != "" {
		return u, nil
	}
	i := strings.LastIndexByte(u.Path, '/')
	if i <= 0 || i == len(u.Path)-1 {
		return nil, fmt.Errorf("publish url %q: want rtmp://host/app/stream", raw)
	}
	key := u.Path[i+1:]
	if u.RawQuery != "" {
		key += "?" + u.RawQuery
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment = u.Path[:i], "", "", key
	return u, nil
}
