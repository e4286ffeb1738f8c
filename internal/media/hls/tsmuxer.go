package hls

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"

	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/stream"
)

// tsMuxer turns one stream into classic HLS with MPEG-TS segments, with gohlslib, once; every viewer of the
// node is served from it. The fMP4 variants are made by fmp4Muxer instead.
type tsMuxer struct {
	path    stream.Path
	hls     *gohlslib.Muxer
	tracks  map[*stream.Track]*gohlslib.Track
	reader  *stream.Reader
	stream  *stream.Stream
	metrics *mediametrics.Metrics
	log     *slog.Logger

	segmentDuration time.Duration
	objectLife      time.Duration

	// gen changes whenever a unit was written, which is the only time a playlist can change.
	gen atomic.Uint64

	objMu   sync.RWMutex
	objects map[string]*object // immutable: init, segments, parts

	plMu      sync.Mutex
	playlists map[string]*object // media playlists by query, valid for one gen

	// segment accounting, mirroring the segmenter's rule (a segment closes on the first random-access
	// unit of the leading track once the segment duration has passed).
	segStart   time.Duration
	segStarted bool
	lastSweep  time.Time
	done       chan struct{}
	dir        string // segment files, removed when the stream ends
}

// object is a response captured from the muxer, shared by all the requests that asked for it at once.
type object struct {
	ready   chan struct{}
	status  int
	msg     string // the body of an error answer ("" = the status text)
	ctype   string
	cache   string
	body    []byte
	gen     uint64
	created time.Time
}

func newTSMuxer(st *stream.Stream, cfg Config, m *mediametrics.Metrics, log *slog.Logger) (*tsMuxer, error) {
	mx := &tsMuxer{
		path: st.Path, stream: st, metrics: m, log: log,
		tracks:          map[*stream.Track]*gohlslib.Track{},
		objects:         map[string]*object{},
		playlists:       map[string]*object{},
		segmentDuration: cfg.SegmentDuration,
		objectLife:      time.Duration(cfg.SegmentCount+3) * maxDur(cfg.SegmentDuration, time.Second) * 2,
		done:            make(chan struct{}),
	}
	var tracks []*gohlslib.Track
	for _, t := range st.Tracks {
		var c codecs.Codec
		switch sc := t.Codec.(type) {
		case *stream.H264:
			c = &codecs.H264{SPS: sc.SPS, PPS: sc.PPS}
		case *stream.H265:
			c = &codecs.H265{VPS: sc.VPS, SPS: sc.SPS, PPS: sc.PPS}
		case *stream.MPEG4Audio:
			c = &codecs.MPEG4Audio{Config: sc.Config}
		case *stream.Opus:
			c = &codecs.Opus{ChannelCount: sc.ChannelCount}
		default:
			return nil, fmt.Errorf("codec %s cannot be muxed to HLS", t.Codec)
		}
		ht := &gohlslib.Track{Codec: c, ClockRate: t.Codec.ClockRate()}
		mx.tracks[t] = ht
		tracks = append(tracks, ht)
	}
	mx.hls = &gohlslib.Muxer{
		Tracks:             tracks,
		Variant:            gohlslib.MuxerVariantMPEGTS,
		SegmentCount:       cfg.SegmentCount,
		SegmentMinDuration: cfg.SegmentDuration,
		PartMinDuration:    cfg.PartDuration,
		OnEncodeError: func(err error) {
			log.Warn("hls encode", "cause", err)
		},
	}
	if cfg.Directory != "" {
		// one directory per publication: a stream published again never meets the old one's files
		dir, err := os.MkdirTemp(cfg.Directory, st.Path.App+"_"+st.Path.Name+"_")
		if err != nil {
			return nil, fmt.Errorf("segment directory for %s: %w", st.Path, err)
		}
		mx.hls.Directory, mx.dir = dir, dir
	}
	if err := mx.hls.Start(); err != nil {
		if mx.dir != "" {
			os.RemoveAll(mx.dir)
		}
		return nil, fmt.Errorf("starting HLS muxer for %s: %w", st.Path, err)
	}
	return mx, nil
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func (mx *tsMuxer) source() *stream.Stream    { return mx.stream }
func (mx *tsMuxer) finished() <-chan struct{} { return mx.done }

// abort releases a muxer that never ran.
func (mx *tsMuxer) abort() {
	mx.hls.Close()
	if mx.dir != "" {
		os.RemoveAll(mx.dir)
	}
}

func (mx *tsMuxer) multivariant(r *http.Request) *object {
	o := &object{}
	mx.capture(o, r)
	return o
}

func (mx *tsMuxer) mediaPlaylist(r *http.Request, _ string) *object {
	if r.URL.Query().Has("_HLS_msn") {
		o := &object{}
		mx.capture(o, r) // the MPEG-TS variant has no blocking reloads: gohlslib answers at once
		return o
	}
	return mx.playlist(r)
}

func (mx *tsMuxer) media(r *http.Request, file string) *object { return mx.immutable(r, file) }

func (mx *tsMuxer) start(reader *stream.Reader) {
	mx.reader = reader
	go mx.run()
}

// run writes the stream's units into the muxer until the stream ends.
func (mx *tsMuxer) run() {
	defer close(mx.done)
	defer func() {
		mx.hls.Close()
		if mx.dir != "" {
			os.RemoveAll(mx.dir)
		}
	}()
	var writeErrors int
	for u := range mx.reader.Units() {
		if err := mx.write(u); err != nil {
			writeErrors++
			if mx.metrics != nil {
				mx.metrics.DroppedUnits.Inc()
			}
			if writeErrors%100 == 1 {
				mx.log.Warn("hls muxer refused a unit", "cause", err, "count", writeErrors)
			}
		}
		mx.gen.Add(1)
		if now := time.Now(); now.Sub(mx.lastSweep) > time.Second {
			mx.lastSweep = now
			mx.sweep(now)
		}
	}
	mx.gen.Add(1)
}

func (mx *tsMuxer) write(u *stream.Unit) error {
	ht := mx.tracks[u.Track]
	if ht == nil {
		return nil
	}
	pts := toTicks(u.PTS, int64(ht.ClockRate))
	if mx.metrics != nil {
		mx.metrics.BytesIn.Add(float64(u.Size))
	}
	switch u.Track.Codec.(type) {
	case *stream.H264:
		mx.countSegment(u, stream.IsH264RandomAccess(u.Payload))
		return mx.hls.WriteH264(ht, u.NTP, pts, u.Payload)
	case *stream.H265:
		mx.countSegment(u, stream.IsH265RandomAccess(u.Payload))
		return mx.hls.WriteH265(ht, u.NTP, pts, u.Payload)
	case *stream.MPEG4Audio:
		return mx.hls.WriteMPEG4Audio(ht, u.NTP, pts, u.Payload)
	case *stream.Opus:
		return mx.hls.WriteOpus(ht, u.NTP, pts, u.Payload)
	}
	return nil
}

func (mx *tsMuxer) countSegment(u *stream.Unit, randomAccess bool) {
	if !randomAccess {
		return
	}
	if !mx.segStarted {
		mx.segStart, mx.segStarted = u.PTS, true
		return
	}
	if u.PTS-mx.segStart >= mx.segmentDuration {
		mx.segStart = u.PTS
		if mx.metrics != nil {
			mx.metrics.Segments.Inc()
		}
	}
}

// toTicks converts d to units of 1/rate s without overflowing for long publications.
func toTicks(d time.Duration, rate int64) int64 {
	sec := int64(d / time.Second)
	rem := int64(d % time.Second)
	return sec*rate + rem*rate/int64(time.Second)
}

// sweep forgets immutable objects that have left the live window.
func (mx *tsMuxer) sweep(now time.Time) {
	mx.objMu.Lock()
	defer mx.objMu.Unlock()
	for k, o := range mx.objects {
		select {
		case <-o.ready:
			if now.Sub(o.created) > mx.objectLife {
				delete(mx.objects, k)
			}
		default:
		}
	}
}

// immutable returns an init file, segment or part, fetching it from the muxer once however many
// requests ask for it at the same time.
func (mx *tsMuxer) immutable(r *http.Request, name string) *object {
	mx.objMu.RLock()
	o, ok := mx.objects[name]
	mx.objMu.RUnlock()
	if ok {
		<-o.ready
		return o
	}
	mx.objMu.Lock()
	o, ok = mx.objects[name]
	if !ok {
		o = &object{ready: make(chan struct{}), created: time.Now()}
		mx.objects[name] = o
	}
	mx.objMu.Unlock()
	if ok {
		<-o.ready
		return o
	}
	mx.capture(o, r)
	if o.status != http.StatusOK {
		mx.objMu.Lock()
		delete(mx.objects, name)
		mx.objMu.Unlock()
	}
	close(o.ready)
	return o
}

// playlist returns a media playlist, regenerated at most once per change of the stream.
func (mx *tsMuxer) playlist(r *http.Request) *object {
	key := r.URL.Path + "?" + r.URL.RawQuery
	gen := mx.gen.Load()
	mx.plMu.Lock()
	o, ok := mx.playlists[key]
	if ok && o.gen == gen {
		mx.plMu.Unlock()
		<-o.ready
		return o
	}
	o = &object{ready: make(chan struct{}), gen: gen, created: time.Now()}
	if len(mx.playlists) > 1024 {
		clear(mx.playlists) // one entry per distinct query; sessions make many
	}
	mx.playlists[key] = o
	mx.plMu.Unlock()
	mx.capture(o, r)
	if o.status != http.StatusOK {
		mx.plMu.Lock()
		if mx.playlists[key] == o {
			delete(mx.playlists, key)
		}
		mx.plMu.Unlock()
	}
	close(o.ready)
	return o
}

// capture runs the muxer's own handler into o.
func (mx *tsMuxer) capture(o *object, r *http.Request) {
	rec := &recorder{header: http.Header{}}
	mx.hls.Handle(rec, r)
	o.status = rec.status
	if o.status == 0 {
		if len(rec.body) == 0 {
			o.status = http.StatusNotFound // the muxer has no such object
		} else {
			o.status = http.StatusOK
		}
	}
	o.ctype = rec.header.Get("Content-Type")
	o.cache = rec.header.Get("Cache-Control")
	o.body = rec.body
}

// recorder captures a response in memory.
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, p...)
	return len(p), nil
}
