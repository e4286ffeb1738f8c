package transcode

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/abema/go-mp4"
)

// mediaPlaylist is what Process reads back of a media playlist ffmpeg wrote.
type mediaPlaylist struct {
	target   time.Duration
	init     string
	segments []segment
}

type segment struct {
	uri      string
	duration time.Duration
	size     int64
}

// readMediaPlaylist reads dir/name, a complete VOD playlist of files in dir, and the sizes of its
// segments.
func readMediaPlaylist(dir, name string) (mediaPlaylist, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return mediaPlaylist{}, err
	}
	var (
		pl                mediaPlaylist
		vod, ended        bool
		pending           time.Duration
		havePendingExtinf bool
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "":
		case strings.HasPrefix(l, "#EXT-X-TARGETDURATION:"):
			s, err := strconv.Atoi(strings.TrimPrefix(l, "#EXT-X-TARGETDURATION:"))
			if err != nil {
				return mediaPlaylist{}, fmt.Errorf("%s: %q: %w", name, l, err)
			}
			pl.target = time.Duration(s) * time.Second
		case l == "#EXT-X-PLAYLIST-TYPE:VOD":
			vod = true
		case l == "#EXT-X-ENDLIST":
			ended = true
		case strings.HasPrefix(l, "#EXT-X-MAP:"):
			uri, ok := attr(strings.TrimPrefix(l, "#EXT-X-MAP:"), "URI")
			if !ok {
				return mediaPlaylist{}, fmt.Errorf("%s: %q has no URI", name, l)
			}
			pl.init = uri
		case strings.HasPrefix(l, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(l, "#EXTINF:"), ",")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return mediaPlaylist{}, fmt.Errorf("%s: %q: %w", name, l, err)
			}
			pending, havePendingExtinf = time.Duration(f*float64(time.Second)), true
		case strings.HasPrefix(l, "#"):
		default:
			if !havePendingExtinf {
				return mediaPlaylist{}, fmt.Errorf("%s: %s has no EXTINF", name, l)
			}
			s := segment{uri: l, duration: pending}
			if s.size, err = fileSize(dir, l); err != nil {
				return mediaPlaylist{}, fmt.Errorf("%s: %w", name, err)
			}
			pl.segments = append(pl.segments, s)
			havePendingExtinf = false
		}
	}
	switch {
	case !vod || !ended:
		return mediaPlaylist{}, fmt.Errorf("%s is not a complete VOD playlist", name)
	case pl.init == "":
		return mediaPlaylist{}, fmt.Errorf("%s has no EXT-X-MAP", name)
	case len(pl.segments) == 0:
		return mediaPlaylist{}, fmt.Errorf("%s has no segments", name)
	}
	if _, err := fileSize(dir, pl.init); err != nil {
		return mediaPlaylist{}, fmt.Errorf("%s: %w", name, err)
	}
	return pl, nil
}

// fileSize is the size of uri, which must name a file of dir.
func fileSize(dir, uri string) (int64, error) {
	if uri != filepath.Base(uri) || strings.ContainsAny(uri, `/\:?#`) {
		return 0, fmt.Errorf("%q is not a file next to the playlist", uri)
	}
	st, err := os.Stat(filepath.Join(dir, uri))
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// attr is the value of a quoted or plain attribute in an attribute list.
func attr(list, name string) (string, bool) {
	for list != "" {
		var kv string
		if i := strings.Index(list, "="); i >= 0 && i+1 < len(list) && list[i+1] == '"' {
			end := strings.Index(list[i+2:], `"`)
			if end < 0 {
				return "", false
			}
			kv, list = list[:i+2+end+1], strings.TrimPrefix(list[i+2+end+1:], ",")
		} else {
			kv, list, _ = strings.Cut(list, ",")
		}
		k, v, _ := strings.Cut(kv, "=")
		if k == name {
			return strings.Trim(v, `"`), true
		}
	}
	return "", false
}

func (pl mediaPlaylist) duration() time.Duration {
	var d time.Duration
	for _, s := range pl.segments {
		d += s.duration
	}
	return d
}

// bandwidth is RFC 8216's peak segment bit rate (the highest rate of any contiguous run of segments
// lasting 0.5 to 1.5 target durations; the whole playlist when none does) and the average rate.
func (pl mediaPlaylist) bandwidth() (peak, average int) {
	rate := func(bytes int64, d time.Duration) int {
		if d <= 0 {
			return 0
		}
		return int(float64(bytes*8) / d.Seconds())
	}
	var total int64
	for _, s := range pl.segments {
		total += s.size
	}
	average = rate(total, pl.duration())
	lo, hi := pl.target/2, pl.target*3/2
	for i := range pl.segments {
		var size int64
		var d time.Duration
		for _, s := range pl.segments[i:] {
			size += s.size
			d += s.duration
			if d > hi {
				break
			}
			if d >= lo {
				peak = max(peak, rate(size, d))
			}
		}
	}
	return max(peak, average), average
}

// codecsOf reads the RFC 6381 codecs of an init segment: avc1.PPCCLL from the avcC box, mp4a.40.N from
// the esds's audio object type.
func codecsOf(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info, err := mp4.Probe(f)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", filepath.Base(name), err)
	}
	var video, audio string
	for _, t := range info.Tracks {
		switch {
		case t.Codec == mp4.CodecAVC1 && t.AVC != nil && video == "":
			video = fmt.Sprintf("avc1.%02x%02x%02x", t.AVC.Profile, t.AVC.ProfileCompatibility, t.AVC.Level)
		case t.Codec == mp4.CodecMP4A && t.MP4A != nil && t.MP4A.OTI == 0x40 && audio == "":
			aot := t.MP4A.AudOTI
			if aot == 0 {
				aot = 2 // no decoder specific info: AAC LC is what ffmpeg's aac encoder makes
			}
			audio = fmt.Sprintf("mp4a.40.%d", aot)
		}
	}
	if video == "" {
		return "", fmt.Errorf("%s has no H.264 track", filepath.Base(name))
	}
	if audio == "" {
		return video, nil
	}
	return video + "," + audio, nil
}

// masterPlaylist is the multivariant playlist of renditions (the largest first, which players that
// start with the first variant play first).
func masterPlaylist(rs []Rendition) []byte {
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=%q,RESOLUTION=%dx%d",
			r.Bandwidth, r.AverageBandwidth, r.Codecs, r.Width, r.Height)
		if r.FrameRate > 0 {
			fmt.Fprintf(&b, ",FRAME-RATE=%.3f", r.FrameRate)
		}
		fmt.Fprintf(&b, "\n%s/index.m3u8\n", r.Name)
	}
	return b.Bytes()
}
