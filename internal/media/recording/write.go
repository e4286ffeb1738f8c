package recording

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/objstore"
)

// write stores t: its VOD playlist, its manifest and, when configured, its MP4. Its segments are in
// storage already. ctx ends when the node's grace period does.
func (r *Recorder) write(ctx context.Context, t *Take) {
	defer close(t.settled)
	p := t.pub
	initName := t.recorded[0].InitName // "" in MPEG-TS
	name := t.name()
	m := Manifest{
		Stream: p.path.String(), Start: t.started.UTC(), Playlist: p.key(name + ".m3u8"), Segments: len(t.recorded),
		Size: t.bytes, Gaps: t.gaps,
	}
	if p.rendition != nil {
		m.RenditionOf = p.rendition.Of.String()
	}
	var dur time.Duration
	for _, sg := range t.recorded {
		dur += sg.Duration
	}
	m.Duration = dur.Seconds()
	m.End = m.Start.Add(dur)
	if first := t.recorded[0].DateTime; !first.IsZero() {
		m.Start = first.UTC()
		last := t.recorded[len(t.recorded)-1]
		m.End = last.DateTime.Add(last.Duration).UTC()
	}
	if m.Gaps == nil {
		m.Gaps = []Gap{}
	}
	// the playlist, then the manifest (the recording is usable from the VOD playlist), then again with the MP4
	if err := r.put(ctx, p.key(name+".m3u8"), vod(initName, t.recorded), PlaylistType, PlaylistCache); err != nil {
		r.failed(t, err)
		return
	}
	if err := r.put(ctx, p.key(name+".json"), m.JSON(), ManifestType, "no-cache"); err != nil {
		r.failed(t, err)
		return
	}
	if mm := r.metrics; mm != nil {
		mm.Stored.Inc()
	}
	switch {
	case !r.cfg.MP4:
	case initName == "":
		p.log.Warn("recording has no MP4: its segments have no init section (record.mp4 needs an fMP4 variant)")
	case slices.ContainsFunc(t.recorded, func(sg segmenter.SegmentInfo) bool { return sg.InitName != initName }):
		p.log.Warn("recording has no MP4: the codec parameters changed during it (one MP4 holds one init section); its VOD playlist plays it whole")
	default:
		if err := r.mp4(ctx, p.key(name+".mp4"), initName, t); err != nil {
			p.log.Error("recording MP4 not written", "cause", err)
		} else {
			m.MP4 = p.key(name + ".mp4")
			if err := r.put(ctx, p.key(name+".json"), m.JSON(), ManifestType, "no-cache"); err != nil {
				p.log.Error("recording manifest not updated with its MP4", "cause", err)
			}
		}
	}
	p.log.Info("recording stored", "playlist", m.Playlist, "duration", dur.Round(time.Millisecond).String(),
		"segments", len(t.recorded), "gaps", len(t.gaps))
	p.mu.Lock()
	renditions := slices.Clone(t.renditions)
	p.mu.Unlock()
	if len(renditions) > 0 {
		r.writeLadder(ctx, t, name, renditions, m)
	}
}

// renditionWait bounds how long the recording of a source waits for those of its renditions (which end
// a moment after it) before it writes its multivariant playlist without the missing ones.
const renditionWait = time.Minute

// writeLadder writes the VOD multivariant playlist of t, the recording of an adaptive stream, once the
// recordings of its renditions are written, and names it in t's manifest m.
func (r *Recorder) writeLadder(ctx context.Context, t *Take, name string, renditions []*Take, m Manifest) {
	p := t.pub
	timeout := time.NewTimer(renditionWait)
	defer timeout.Stop()
	source := t.variant(name + ".m3u8")
	var variants []segmenter.Variant
	var video, audio *segmenter.Variant // the source's own video and audio split out of it
	for _, rt := range renditions {
		select {
		case <-rt.settled:
		case <-ctx.Done():
			return
		case <-timeout.C:
			p.log.Warn("recording's multivariant playlist lists only the renditions recorded in time", "waited", renditionWait.String())
			renditions = nil
		}
		if renditions == nil {
			break
		}
		rp := rt.pub
		rel, ok := strings.CutPrefix(rp.base, p.base+"/")
		if len(rt.recorded) == 0 || !ok {
			continue // nothing recorded; or stored outside the source's prefix, where playback would not reach
		}
		rname := rt.name()
		v := rt.variant(rel + "/" + rname + ".m3u8")
		switch rp.rendition.Kind {
		case stream.KindSourceVideo:
			video = &v
		case stream.KindAudio:
			audio = &v
		default:
			variants = append(variants, v)
		}
		m.Renditions = append(m.Renditions, rp.key(rname+".m3u8"))
	}
	slices.SortStableFunc(variants, func(a, b segmenter.Variant) int { return b.Bandwidth - a.Bandwidth })
	switch {
	case audio != nil && len(variants) > 0:
		// the live ladder's: video-only variants, the source's video alone first (unless the source was
		// hidden, and never split out), sharing one audio rendition
		if video != nil {
			variants = append([]segmenter.Variant{*video}, variants...)
		}
	default:
		// without the split audio, the variants as recorded (the source's with its audio, first)
		audio = nil
		variants = append([]segmenter.Variant{source}, variants...)
	}
	key := p.key(name + "_multivariant.m3u8")
	if err := r.put(ctx, key, segmenter.Ladder(variants, audio, nil), PlaylistType, PlaylistCache); err != nil {
		p.log.Error("recording's multivariant playlist not written", "cause", err)
		return
	}
	m.Multivariant = key
	if err := r.put(ctx, p.key(name+".json"), m.JSON(), ManifestType, "no-cache"); err != nil {
		p.log.Error("recording manifest not updated with its multivariant playlist", "cause", err)
		return
	}
	p.log.Info("recording's multivariant playlist stored", "playlist", key, "renditions", len(m.Renditions))
}

// variant describes the recording t for a multivariant playlist, its VOD playlist at uri: the codecs,
// resolution and frame rate of its publication, the bandwidth of its own segments (BANDWIDTH the
// highest of a segment, AVERAGE-BANDWIDTH the whole's).
func (t *Take) variant(uri string) segmenter.Variant {
	p := t.pub
	p.mu.Lock()
	var v segmenter.Variant
	if p.variant != nil {
		v = *p.variant
	}
	p.mu.Unlock()
	v.URI = uri
	var total int64
	var dur time.Duration
	peak := 0
	for i, sg := range t.recorded {
		if sg.Duration <= 0 {
			continue
		}
		total += t.sizes[i]
		dur += sg.Duration
		peak = max(peak, int(float64(t.sizes[i])*8/sg.Duration.Seconds()))
	}
	if dur > 0 {
		v.AverageBandwidth = int(float64(total) * 8 / dur.Seconds())
	}
	v.Bandwidth = max(peak, v.AverageBandwidth, 1)
	return v
}

func (r *Recorder) failed(t *Take, err error) {
	t.pub.log.Error("recording not stored", "segments", len(t.recorded), "cause", err)
	if m := r.metrics; m != nil {
		m.Failed.Inc()
	}
}

func (p *Publication) key(name string) string { return p.base + "/" + name }

// vod renders the playlist of segments; a gap, like a codec parameter change, starts a discontinuity.
func vod(initName string, recorded []segmenter.SegmentInfo) []byte {
	segs := slices.Clone(recorded)
	segs[0].Discontinuity = false // a playlist does not open with one
	for i := 1; i < len(segs); i++ {
		if segs[i].MSN != segs[i-1].MSN+1 {
			segs[i].Discontinuity = true
		}
	}
	return segmenter.VOD(initName, segs, nil)
}

// put writes one object, retrying with backoff for Config.GiveUpAfter at most, or until ctx ends.
func (r *Recorder) put(ctx context.Context, key string, data []byte, ctype, cache string) error {
	giveUp := time.Now().Add(r.cfg.GiveUpAfter)
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := r.store.Put(actx, key, bytes.NewReader(data), int64(len(data)), objstore.PutOptions{ContentType: ctype, CacheControl: cache})
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(giveUp) {
			return fmt.Errorf("writing %s (%d attempts): %w", key, attempt, err)
		}
		if attempt == 1 {
			r.log.Warn("recording write failed, retrying", "object", key, "cause", err)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("writing %s: %w", key, err)
		case <-timer.C:
		}
		wait = min(2*wait, r.cfg.RetryMax)
	}
}

// mp4 writes the init section and every recorded segment as one fragmented MP4, streamed from storage one
// object at a time (the store uploads a big one in parts). The sizes come from the store first, since
// an upload needs the length up front.
func (r *Recorder) mp4(ctx context.Context, key, initName string, t *Take) error {
	keys := make([]string, 0, len(t.recorded)+1)
	keys = append(keys, t.pub.key(initName))
	for _, sg := range t.recorded {
		keys = append(keys, t.pub.key(sg.Name))
	}
	// a minute, plus a second per 8 MB: generous for object storage, bounded for a node that stops
	ctx, cancel := context.WithTimeout(ctx, time.Minute+time.Duration(t.bytes>>23)*time.Second)
	defer cancel()
	var total int64
	for _, k := range keys {
		info, err := r.store.Head(ctx, k)
		if err != nil {
			return fmt.Errorf("reading %s: %w", k, err)
		}
		total += info.Size
	}
	body := &chain{ctx: ctx, store: r.store, keys: keys}
	defer body.close()
	return r.store.Put(ctx, key, body, total, objstore.PutOptions{ContentType: MP4Type, CacheControl: MediaCache})
}

// chain reads objects one after the other, opening each when the previous one is done.
type chain struct {
	ctx   context.Context
	store Store
	keys  []string
	cur   io.ReadCloser
}

func (c *chain) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.keys) == 0 {
				return 0, io.EOF
			}
			rc, _, err := c.store.Get(c.ctx, c.keys[0], nil)
			if err != nil {
				return 0, fmt.Errorf("reading %s: %w", c.keys[0], err)
			}
			c.cur, c.keys = rc, c.keys[1:]
		}
		n, err := c.cur.Read(p)
		if errors.Is(err, io.EOF) {
			c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *chain) close() {
	if c.cur != nil {
		c.cur.Close()
	}
}
