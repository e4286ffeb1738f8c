package hls

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nagare-video/nagare/internal/media/hlshttp"
	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/viewers"
)

const (
	// cache lifetimes, as gohlslib sets them
	objectCache       = "public, max-age=3600"
	multivariantCache = "public, max-age=30"
	// readyTimeout bounds how long a request for a playlist waits for the stream's first media.
	readyTimeout = 5 * time.Second
)

// muxer makes one stream's HLS with a segmenter, once, and answers every viewer's requests for it: audio
// and video in one media playlist, whose name is gohlslib's (video1_stream.m3u8 for a stream whose first
// track is video), so that players and edges keep their URLs.
type muxer struct {
	stream   *stream.Stream
	seg      *segmenter.Segmenter
	playlist string
	metrics  *mediametrics.Metrics
	log      *slog.Logger
	done     chan struct{}
	dir      string // segment files, removed when the stream ends
	reader   *stream.Reader
	// tmpl is the current playlist rendered once with a placeholder for the viewer's query: each viewer's
	// copy is then one substitution, not a rendering
	tmpl atomic.Pointer[playlistTemplate]
	// ladderTmpl is the multivariant playlist likewise (ladder)
	ladderTmpl atomic.Pointer[ladderTemplate]

	// source is, for a rendition of an adaptive stream, the muxer of the stream it is a rendition of
	source *muxer
	// hideSource leaves the source out of its multivariant playlist once it has renditions
	hideSource bool
	// renditions are, for a source, the muxers of its renditions (replaced, never changed)
	renditions atomic.Pointer[[]*muxer]
	// views are, for a source with renditions, the muxers of its own video and audio split out (see
	// Server.split); nil before its first rendition, and for a source that lacks either
	views atomic.Pointer[views]
	// splitTried is set (under the server's lock) once the source's views were made or found impossible
	splitTried bool
	// writeErrors counts the units the segmenter refused; it belongs to the writer
	writeErrors int
}

// views are the source's own tracks as renditions of its ladder, each a stream of its own
// (<stream>_source, <stream>_audio): the source's video alone, the ladder's top rung (nil when the
// source is hidden), and its audio alone, the one audio rendition every variant of the ladder plays.
// They follow the source's cuts as the rungs do, so that every rendition has the same segment and
// part boundaries.
type views struct {
	video, audio *muxer
}

// kind is what mx's stream is to its ladder (stream.KindRung for a stream of its own too).
func (mx *muxer) kind() stream.RenditionKind {
	if rd := mx.stream.Rendition; rd != nil {
		return rd.Kind
	}
	return stream.KindRung
}

// object is an answer to a request.
type object struct {
	status int
	msg    string // the body of an error answer ("" = the status text)
	ctype  string
	cache  string
	body   []byte
	// file, when not nil, holds the body instead: size bytes from its offset (sent with sendfile)
	file segmenter.File
	size int
	// buf, when not nil, is the pooled buffer body was written into, given back once it is sent
	buf *[]byte
}

// bodyPool holds the buffers of viewers' playlists: one per request in flight, not one per request.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// recycle gives o's buffer back to the pool once o is sent.
func (o *object) recycle() {
	if o.buf != nil && cap(o.body) <= 64<<10 {
		*o.buf = o.body[:0]
		bodyPool.Put(o.buf)
	}
}

// playlistTemplate is a playlist split where each viewer's query goes: pieces[0] query pieces[1] query ...
type playlistTemplate struct {
	pl     *segmenter.Playlist
	pieces [][]byte
	size   int // of the pieces together
}

func newPlaylistTemplate(pl *segmenter.Playlist) *playlistTemplate {
	t := splitTemplate(pl.Media(segmenter.MediaOptions{URI: withQuery(queryMarker)}))
	t.pl = pl
	return &t
}

// splitTemplate splits a playlist rendered with queryMarker for the query.
func splitTemplate(body []byte) playlistTemplate {
	t := playlistTemplate{pieces: bytes.Split(body, []byte(queryMarker))}
	for _, p := range t.pieces {
		t.size += len(p)
	}
	return t
}

// fill appends the template with query in each place to b.
func (t *playlistTemplate) fill(b []byte, query string) []byte {
	b = slices.Grow(b, t.size+(len(t.pieces)-1)*len(query))
	for i, p := range t.pieces {
		if i > 0 {
			b = append(b, query...)
		}
		b = append(b, p...)
	}
	return b
}

// ladderTemplate is a multivariant playlist rendered once for its variants, split where each viewer's
// query goes: a node answers every new viewer with one, which differs from viewer to viewer by that
// query alone (a session id).
type ladderTemplate struct {
	variants []segmenter.Variant
	audio    *segmenter.Variant
	playlistTemplate
}

// ladder returns the multivariant playlist of variants (sharing audio, if not nil) whose URIs carry
// query, rendering it again only when the variants changed.
func (mx *muxer) ladder(variants []segmenter.Variant, audio *segmenter.Variant, query string) []byte {
	if query == "" {
		return segmenter.Ladder(variants, audio, nil) // an edge's or a relay's request
	}
	t := mx.ladderTmpl.Load()
	if t == nil || !slices.EqualFunc(t.variants, variants, segmenter.Variant.Equal) ||
		(t.audio == nil) != (audio == nil) || audio != nil && !t.audio.Equal(*audio) {
		t = &ladderTemplate{variants: slices.Clone(variants)}
		if audio != nil {
			a := *audio
			t.audio = &a
		}
		t.playlistTemplate = splitTemplate(segmenter.Ladder(variants, audio, withQuery(queryMarker)))
		mx.ladderTmpl.Store(t)
	}
	return t.fill(nil, query)
}

// queryMarker stands for a viewer's query in a playlist template; a re-encoded query cannot contain it.
const queryMarker = "NAGARE-QUERY-PLACEHOLDER"

// render returns pl's media playlist with query appended to every URI, and the pooled buffer it is
// written in (nil when body is the playlist rendered once for every viewer without a query).
func (mx *muxer) render(pl *segmenter.Playlist, query string) (body []byte, buf *[]byte) {
	if query == "" {
		return pl.Media(segmenter.MediaOptions{}), nil // rendered once per playlist by the segmenter
	}
	t := mx.tmpl.Load()
	if t == nil || t.pl != pl {
		t = newPlaylistTemplate(pl)
		mx.tmpl.Store(t)
	}
	buf = bodyPool.Get().(*[]byte)
	return t.fill((*buf)[:0], query), buf
}

// newMuxer returns the muxer of st; source is the muxer of the stream st is a rendition of (nil for a
// stream of its own), whose cuts st's segmenter follows.
func newMuxer(st *stream.Stream, source *muxer, cfg Config, m *mediametrics.Metrics, log *slog.Logger) (*muxer, error) {
	name := mediaPlaylistName(st)
	if name == "" {
		return nil, fmt.Errorf("no track of %s can be muxed to HLS (want H.264, H.265, AAC or Opus)", st.Path)
	}
	format, lowLatency := segmenter.FormatFMP4, true
	switch cfg.Variant {
	case VariantFMP4:
		lowLatency = false
	case VariantMPEGTS:
		format, lowLatency = segmenter.FormatMPEGTS, false
	}
	mx := &muxer{stream: st, playlist: name, metrics: m, log: log, done: make(chan struct{}), source: source,
		hideSource: cfg.HideSource}
	var follow *segmenter.Cuts
	if source != nil {
		follow = source.seg.Cuts()
	}
	if cfg.Directory != "" {
		// one directory per publication: a stream published again never meets the old one's files
		dir, err := os.MkdirTemp(cfg.Directory, st.Path.App+"_"+st.Path.Name+"_")
		if err != nil {
			return nil, fmt.Errorf("segment directory for %s: %w", st.Path, err)
		}
		mx.dir = dir
	}
	var obs segmenter.Observer = metricsObserver{m}
	if cfg.Observe != nil {
		if o := cfg.Observe(st); o != nil {
			obs = tee{metricsObserver{m}, o}
		}
	}
	tracks := st.Tracks
	if rd := st.Rendition; rd != nil && rd.Kind == stream.KindRung {
		// a rung is video only: the ladder's audio is the source's, split out once (Server.split)
		tracks = slices.DeleteFunc(slices.Clone(tracks), func(t *stream.Track) bool { return !segmenter.IsVideo(t) })
	}
	seg, err := segmenter.New(segmenter.Config{
		Tracks: tracks, Format: format, LowLatency: lowLatency,
		SegmentMinDuration: cfg.SegmentDuration, PartMinDuration: cfg.PartDuration, SegmentCount: cfg.SegmentCount,
		Directory: mx.dir, Observer: obs, Log: log, Follow: follow,
		// a WebRTC publisher keyframes when asked, not on its own (RTMP and SRT publishers cannot be asked)
		RequestKeyframe: func() { st.RequestKeyframe() },
	})
	if err != nil {
		obs.Ended(nil) // the observers started for this stream must learn that it will never come
		mx.abort()
		return nil, fmt.Errorf("segmenter for %s: %w", st.Path, err)
	}
	mx.seg = seg
	return mx, nil
}

// mediaPlaylistName names the media playlist after the track that leads the segmentation, as gohlslib
// did: video<i>_stream.m3u8 for the first video track, audio<i>_stream.m3u8 without video (i from 1).
func mediaPlaylistName(st *stream.Stream) string {
	audio := ""
	for i, t := range st.Tracks {
		switch {
		case segmenter.IsVideo(t):
			return "video" + strconv.Itoa(i+1) + "_stream.m3u8"
		case segmenter.IsAudio(t) && audio == "":
			audio = "audio" + strconv.Itoa(i+1) + "_stream.m3u8"
		}
	}
	return audio
}

func (mx *muxer) publication() *stream.Stream { return mx.stream }

// addRendition lists r among mx's renditions; removeRendition forgets it.
func (mx *muxer) addRendition(r *muxer) {
	for {
		old := mx.renditions.Load()
		var list []*muxer
		if old != nil {
			list = slices.Clone(*old)
		}
		list = append(list, r)
		if mx.renditions.CompareAndSwap(old, &list) {
			return
		}
	}
}

func (mx *muxer) removeRendition(r *muxer) {
	for {
		old := mx.renditions.Load()
		if old == nil {
			return
		}
		list := slices.DeleteFunc(slices.Clone(*old), func(m *muxer) bool { return m == r })
		if mx.renditions.CompareAndSwap(old, &list) {
			return
		}
	}
}

// family returns the muxers of every rendition of mx's adaptive stream but mx itself: the source (its
// split video and audio once it has them, in place of the source as published) and its renditions.
func (mx *muxer) family() []*muxer {
	head := mx
	if mx.source != nil {
		head = mx.source
	}
	var out []*muxer
	if vs := head.views.Load(); vs != nil {
		for _, v := range []*muxer{vs.video, vs.audio} {
			if v != nil && v != mx {
				out = append(out, v)
			}
		}
	} else if head != mx {
		out = append(out, head)
	}
	if list := head.renditions.Load(); list != nil {
		for _, r := range *list {
			if r != mx {
				out = append(out, r)
			}
		}
	}
	return out
}

// relativeURI is the URI of mx's media playlist from a sibling's playlist of the same app.
func (mx *muxer) relativeURI() string { return "../" + mx.stream.Path.Name + "/" + mx.playlist }

// finished is closed when the muxer consumed the whole stream.
func (mx *muxer) finished() <-chan struct{} { return mx.done }

// abort releases a muxer that never ran.
func (mx *muxer) abort() {
	if mx.seg != nil {
		mx.seg.Close()
	}
	if mx.dir != "" {
		os.RemoveAll(mx.dir)
	}
}

// start consumes the stream, in a goroutine of its own, until reader's queue closes.
func (mx *muxer) start(reader *stream.Reader) {
	mx.reader = reader
	go mx.run()
}

// run writes the stream's units into the segmenter until the stream ends.
func (mx *muxer) run() {
	for u := range mx.reader.Units() {
		mx.write(u)
	}
	mx.end()
}

// write writes one unit into the segmenter: from run, or, for an inline reader, from the stream's Write.
func (mx *muxer) write(u *stream.Unit) {
	if mx.metrics != nil {
		mx.metrics.BytesIn.Add(float64(u.Size))
	}
	if err := mx.seg.Write(u); err != nil {
		mx.writeErrors++
		if mx.metrics != nil {
			mx.metrics.DroppedUnits.Inc()
		}
		if mx.writeErrors%100 == 1 {
			mx.log.Warn("segmenter dropped a sample", "cause", err, "count", mx.writeErrors)
		}
	}
}

// end closes the segmenter once the stream has ended.
func (mx *muxer) end() {
	mx.abort()
	close(mx.done)
}

// ready waits, within ctx and readyTimeout, for the stream's first playable media.
func (mx *muxer) ready(ctx context.Context) (*segmenter.Playlist, *object) {
	if pl := mx.seg.Playlist(); pl.Ready() {
		return pl, nil // a live stream's usual case, without a timer
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	pl, err := mx.seg.WaitReady(ctx)
	if err != nil {
		return nil, waitFailure(err)
	}
	return pl, nil
}

// startSegments is how many complete segments a plain (not blocking) request for a classic media
// playlist waits for in a stream's first seconds, and GStreamer's for a low-latency one: GStreamer 1.22's
// hlsdemux2 cannot match its next playlist against a first one that lists a single segment
// (gst_hls_media_playlist_sync_to_playlist tries the reference's segments from the last down to the
// second, never the first: "Could not synchronize media playlists", then no frame), parts of the segment
// being written or not.
const startSegments = 2

// segmentsToStart is how many complete segments a plain request waits for in a stream's first seconds:
// startSegments on a classic playlist, or for GStreamer (gst); one on a low-latency playlist. Players
// that know nothing of parts cannot start on parts alone (GStreamer's classic hlsdemux: "Couldn't update
// playlist"; hls.js: "No Segments found in Playlist"). The playlist still starts with the first segment;
// LL-HLS players' blocking requests get parts at once.
func (mx *muxer) segmentsToStart(gst bool) int {
	if mx.seg.LowLatency() && !gst {
		return 1
	}
	return startSegments
}

// isGStreamer reports whether r comes from GStreamer (souphttpsrc's default User-Agent).
func isGStreamer(r *http.Request) bool { return strings.Contains(r.UserAgent(), "GStreamer") }

// firstSegments waits, within ctx and readyTimeout, until the stream's playlist lists segmentsToStart
// segments. When that takes longer (a long GOP), what there is answers, as long as it is something to
// play. A live stream's usual case returns the current playlist without a timer; after a wait, the
// playlist returned is the one that just listed a new segment (as fresh as a playlist can be).
func (mx *muxer) firstSegments(ctx context.Context, gst bool) (*segmenter.Playlist, *object) {
	n := mx.segmentsToStart(gst)
	if pl := mx.seg.Playlist(); pl.SegmentCount() >= n {
		return mx.freshPlaylist(ctx, pl), nil
	}
	wctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	pl, err := mx.seg.WaitSegments(wctx, n)
	switch {
	case err == nil:
		return pl, nil
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) && pl.Ready():
		return pl, nil
	case errors.Is(err, segmenter.ErrEnded) && pl.Ready():
		return pl, nil
	}
	return nil, waitFailure(err)
}

// waitFailure is the answer to a request whose wait failed.
func waitFailure(err error) *object {
	switch {
	case errors.Is(err, segmenter.ErrEnded), errors.Is(err, segmenter.ErrNotFound):
		return &object{status: http.StatusNotFound}
	case errors.Is(err, context.DeadlineExceeded):
		return &object{status: http.StatusServiceUnavailable, msg: "the stream has no media yet"}
	default:
		return &object{status: http.StatusServiceUnavailable, msg: "request cancelled"}
	}
}

func (mx *muxer) multivariant(r *http.Request) *object {
	pl, fail := mx.ready(r.Context())
	if fail != nil {
		return fail
	}
	variants := []segmenter.Variant{pl.Variant(mx.playlist)}
	var audio *segmenter.Variant
	switch {
	case mx.source != nil:
		// a rendition asked for alone (Red5's <stream>_<level>) plays with the ladder's audio
		if mx.kind() != stream.KindAudio {
			audio = mx.source.audioVariant()
		}
	default:
		rv := mx.renditionVariants()
		top, a := mx.splitVariants()
		switch {
		case len(rv) == 0:
		case a != nil:
			// a ladder: video-only variants sharing one audio rendition
			variants, audio = append(top, rv...), a
		case variants[0].HasAudio():
			// the rungs are video only: until the source's audio is split out for them to share, the
			// source plays alone, as before it had a ladder
		case mx.hideSource:
			variants = rv
		default:
			variants = append(variants, rv...)
		}
	}
	return &object{status: http.StatusOK, ctype: hlshttp.PlaylistType, cache: multivariantCache,
		body: mx.ladder(variants, audio, playlistQuery(r.URL.RawQuery, false))}
}

// splitVariants returns, for a source split into views, the variant of its video alone (none when the
// source is hidden) and that of its audio, once both have something to play; audio is nil otherwise.
func (mx *muxer) splitVariants() (top []segmenter.Variant, audio *segmenter.Variant) {
	vs := mx.views.Load()
	if vs == nil {
		return nil, nil
	}
	if vs.video != nil {
		pl := vs.video.seg.Playlist()
		if !pl.Ready() || pl.Ended() {
			return nil, nil
		}
		top = []segmenter.Variant{pl.Variant(vs.video.relativeURI())}
	}
	if audio = mx.audioVariant(); audio == nil {
		return nil, nil
	}
	return top, audio
}

// audioVariant describes the audio rendition of mx, a source split into views, once it has something
// to play (nil before, and for a source not split).
func (mx *muxer) audioVariant() *segmenter.Variant {
	vs := mx.views.Load()
	if vs == nil {
		return nil
	}
	pl := vs.audio.seg.Playlist()
	if !pl.Ready() || pl.Ended() {
		return nil
	}
	v := pl.Variant(vs.audio.relativeURI())
	return &v
}

// freshPlaylist answers a plain request for a low-latency playlist that cur would answer: the playlist as
// the part after cur's last is listed, within hlshttp.FreshWait (cur itself for a classic or ended
// playlist).
func (mx *muxer) freshPlaylist(ctx context.Context, cur *segmenter.Playlist) *segmenter.Playlist {
	if !cur.LowLatency() || cur.Ended() {
		return cur
	}
	msn, part, ok := cur.LastPart()
	if !ok {
		return cur
	}
	ctx, cancel := context.WithTimeout(ctx, hlshttp.FreshWait(cur.PartTarget()))
	defer cancel()
	pl, _ := mx.seg.Wait(ctx, msn, part+1) // late or ended: the latest playlist
	return pl
}

func (mx *muxer) mediaPlaylist(r *http.Request, file string) *object {
	if file != mx.playlist {
		return &object{status: http.StatusNotFound}
	}
	var pl *segmenter.Playlist
	msn, part, blocking, err := hlshttp.BlockingParams(r.URL.RawQuery)
	if (blocking || err != nil) && mx.seg.LowLatency() {
		if err != nil {
			return &object{status: http.StatusBadRequest, msg: err.Error()}
		}
		if part < 0 {
			part = segmenter.NoPart
		}
		cur := mx.seg.Playlist()
		if msn > cur.NextMSN()+1 {
			// LL-HLS: a request more than one segment ahead of the live edge is refused at once
			return &object{status: http.StatusBadRequest, msg: fmt.Sprintf("_HLS_msn %d is beyond the live edge (%d)", msn, cur.NextMSN())}
		}
		// hold the request until the part exists, at most three target durations, then answer with what
		// there is: the player asks again
		if cur.Has(msn, part) {
			pl = cur // a player's usual reload, for a part that exists: no timer
		} else {
			ctx, cancel := context.WithTimeout(r.Context(), 3*max(cur.TargetDuration(), time.Second))
			pl, err = mx.seg.Wait(ctx, msn, part)
			cancel()
		}
		switch {
		case errors.Is(err, segmenter.ErrEnded):
			// the stream ended while the request waited: the final playlist (with EXT-X-ENDLIST) answers it
			if pl = mx.seg.Playlist(); pl == nil || !pl.Ended() || !pl.Ready() {
				return waitFailure(err)
			}
		case r.Context().Err() != nil:
			return waitFailure(err)
		case err != nil:
			pl = mx.seg.Playlist()
		}
	}
	if pl == nil || !pl.Ready() {
		var fail *object
		if pl, fail = mx.firstSegments(r.Context(), isGStreamer(r)); fail != nil {
			return fail
		}
	}
	query := playlistQuery(r.URL.RawQuery, true)
	body, buf := mx.render(pl, query)
	if pl.LowLatency() {
		if buf == nil {
			body = slices.Clip(body) // shared: appending must copy it
		}
		body = mx.renditionReports(body, query)
	}
	cache := "no-cache"
	if last, ok := pl.LastSegment(); ok && !pl.LowLatency() {
		// a classic playlist changes once a segment: as gohlslib, let it be cached for about that long
		cache = "public, max-age=" + strconv.Itoa(int(last.Duration/time.Second))
	}
	return &object{status: http.StatusOK, ctype: hlshttp.PlaylistType, cache: cache, body: body, buf: buf}
}

func (mx *muxer) media(r *http.Request, file string) *object {
	// the preload hint's part is held until it is complete
	o, err := mx.seg.Object(r.Context(), file)
	if err != nil {
		return waitFailure(err)
	}
	f, err := o.File()
	switch {
	case errors.Is(err, segmenter.ErrNotFound):
		// it left the window while we looked it up
		return &object{status: http.StatusNotFound}
	case err != nil:
		mx.log.Warn("opening a segment failed", "object", file, "cause", err)
		return &object{status: http.StatusServiceUnavailable, msg: "the object cannot be opened now"}
	case f != nil:
		return &object{status: http.StatusOK, ctype: o.ContentType, cache: objectCache, file: f, size: o.Size()}
	}
	b, err := o.Bytes()
	if err != nil {
		// a segment file that left the window while we looked it up
		return &object{status: http.StatusNotFound}
	}
	return &object{status: http.StatusOK, ctype: o.ContentType, cache: objectCache, body: b}
}

// renditionVariants are the variants of mx's renditions that have something to play, the highest bit
// rate first. A rendition's BANDWIDTH is at least its rung's nominal video peak: the few parts of a
// young rendition measure it poorly, and players pick variants by it.
func (mx *muxer) renditionVariants() []segmenter.Variant {
	list := mx.renditions.Load()
	if list == nil {
		return nil
	}
	var out []segmenter.Variant
	for _, r := range *list {
		pl := r.seg.Playlist()
		if !pl.Ready() {
			continue
		}
		v := pl.Variant(r.relativeURI())
		if rd := r.stream.Rendition; rd != nil {
			v.Bandwidth = max(v.Bandwidth, rd.Bandwidth)
		}
		out = append(out, v)
	}
	slices.SortStableFunc(out, func(a, b segmenter.Variant) int { return b.Bandwidth - a.Bandwidth })
	return out
}

// renditionReports appends an EXT-X-RENDITION-REPORT for every other rendition of mx's adaptive stream
// to a media playlist (RFC 8216bis §4.4.5.4): a player switching renditions learns where the other one
// is and asks for its next part at once. It appends to body: a body shared with other requests must be
// given clipped.
func (mx *muxer) renditionReports(body []byte, query string) []byte {
	family := mx.family()
	if len(family) == 0 {
		return body
	}
	out := body
	uri := withQuery(query)
	for _, r := range family {
		msn, part, ok := r.seg.Playlist().LastPart()
		if !ok {
			continue
		}
		u := r.relativeURI()
		if uri != nil {
			u = uri(u)
		}
		out = fmt.Appendf(out, "#EXT-X-RENDITION-REPORT:URI=\"%s\",LAST-MSN=%d,LAST-PART=%d\n", u, msn, part)
	}
	return out
}

// withQuery appends a query to every URI of a playlist (the viewer's session, the caller's own
// parameters), as gohlslib did.
func withQuery(raw string) segmenter.URIFunc {
	if raw == "" {
		return nil
	}
	return func(name string) string { return name + "?" + raw }
}

// playlistQuery is the query a playlist's URIs carry: the request's, re-encoded (so that nothing in it can
// end a quoted attribute or a line) and without the blocking-reload parameters. Without the viewer's
// session id too for a media playlist (dropSession): the session rides on the playlist URLs the
// multivariant playlist gave the viewer, which it reloads all along, as an edge's do; the URIs of init
// sections, segments and parts are then the same for every viewer (shared by caches and CDNs), and so is
// the playlist itself, rendered once for all.
func playlistQuery(raw string, dropSession bool) string {
	if raw == "" {
		return ""
	}
	drop := func(key string) bool {
		return strings.HasPrefix(key, "_HLS_") || dropSession && key == viewers.Param
	}
	if plainQuery(raw) {
		// the usual case (a session id, maybe blocking-reload parameters): no need to parse and encode
		if !strings.Contains(raw, "_HLS_") && (!dropSession || !strings.Contains(raw, viewers.Param)) {
			return raw
		}
		var b strings.Builder
		for kv := range strings.SplitSeq(raw, "&") {
			key, _, _ := strings.Cut(kv, "=")
			if kv == "" || drop(key) {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(kv)
		}
		return b.String()
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return ""
	}
	for k := range q {
		if drop(k) {
			delete(q, k)
		}
	}
	return q.Encode()
}

// plainQuery reports whether raw is made only of characters that url.Values.Encode leaves as they are
// (and '&', '=' and '%' escapes), so that it can be copied into a playlist's URIs unchanged: nothing a
// viewer sends reaches a playlist unescaped.
func plainQuery(raw string) bool {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == '~', c == '&', c == '=':
		case c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]):
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// metricsObserver counts segments and parts.
type metricsObserver struct{ m *mediametrics.Metrics }

func (o metricsObserver) Init(string, []byte) {}
func (o metricsObserver) Part(segmenter.Part) {
	if o.m != nil {
		o.m.Parts.Inc()
	}
}

func (o metricsObserver) SegmentComplete(segmenter.Segment) {
	if o.m != nil {
		o.m.Segments.Inc()
	}
}
func (o metricsObserver) PlaylistChanged(*segmenter.Playlist) {}
func (o metricsObserver) Ended(*segmenter.Playlist)           {}

// tee passes every event to two observers, in order.
type tee [2]segmenter.Observer

func (t tee) Init(name string, data []byte) {
	t[0].Init(name, data)
	t[1].Init(name, data)
}

func (t tee) Part(p segmenter.Part) {
	t[0].Part(p)
	t[1].Part(p)
}

func (t tee) SegmentComplete(s segmenter.Segment) {
	t[0].SegmentComplete(s)
	t[1].SegmentComplete(s)
}

func (t tee) PlaylistChanged(pl *segmenter.Playlist) {
	t[0].PlaylistChanged(pl)
	t[1].PlaylistChanged(pl)
}

func (t tee) Ended(pl *segmenter.Playlist) {
	t[0].Ended(pl)
	t[1].Ended(pl)
}
