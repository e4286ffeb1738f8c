package transcode

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const (
	thumbWidth     = 160
	storyboardCols = 10
	maxThumbs      = 100
	// thumbsDir holds ffmpeg's thumbnails while Process assembles them into storyboard.jpg.
	thumbsDir = ".thumbnails"
)

// storyboard is the layout of storyboard.jpg: count thumbnails of w x h, one every interval, in a grid
// of cols x rows, left to right then top to bottom.
//
// ffmpeg writes the thumbnails one by one and Process assembles them, rather than ffmpeg's tile filter
// making the grid: the number of thumbnails is then the number ffmpeg found (the frame at the last
// multiple of interval may not exist), and ffmpeg reports progress while it decodes, which its tile
// filter, writing its only output at the end, would prevent.
type storyboard struct {
	interval   time.Duration
	duration   time.Duration
	w, h       int
	count      int
	cols, rows int
}

func (j *job) storyboard() storyboard {
	d := j.src.videoDuration
	return storyboard{
		interval: max(time.Second, d/maxThumbs),
		duration: d,
		w:        thumbWidth,
		h:        max(int(math.Round(float64(thumbWidth)*float64(j.src.Height)/float64(j.src.Width)/2))*2, 2),
	}
}

// thumbnailFilter picks the first frame at or after each multiple of interval (counted from the first
// frame: the audio may start earlier) and sizes it.
func (sb storyboard) thumbnailFilter() string {
	return fmt.Sprintf("setpts=PTS-STARTPTS,select='gte(t\\,selected_n*%s)',scale=%d:%d,setsar=1",
		secs(sb.interval), sb.w, sb.h)
}

// assemble lays out the PNG thumbnails of dir (in name order) and writes the sprite to name.
func (sb *storyboard) assemble(dir, name string) error {
	thumbs, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil {
		return err
	}
	slices.Sort(thumbs)
	if len(thumbs) == 0 {
		return fmt.Errorf("storyboard: ffmpeg made no thumbnails")
	}
	thumbs = thumbs[:min(len(thumbs), maxThumbs+1)] // +1: the rounding of interval
	sb.count = len(thumbs)
	sb.cols = min(sb.count, storyboardCols)
	sb.rows = (sb.count + sb.cols - 1) / sb.cols
	sprite := image.NewRGBA(image.Rect(0, 0, sb.cols*sb.w, sb.rows*sb.h))
	for i, th := range thumbs {
		img, err := readPNG(th)
		if err != nil {
			return fmt.Errorf("storyboard: %w", err)
		}
		if img.Bounds().Dx() != sb.w || img.Bounds().Dy() != sb.h {
			return fmt.Errorf("storyboard: %s is %v, not %dx%d", filepath.Base(th), img.Bounds().Size(), sb.w, sb.h)
		}
		at := image.Pt(i%sb.cols*sb.w, i/sb.cols*sb.h)
		draw.Draw(sprite, image.Rectangle{Min: at, Max: at.Add(img.Bounds().Size())}, img, img.Bounds().Min, draw.Src)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, sprite, &jpeg.Options{Quality: 80}); err != nil {
		return fmt.Errorf("storyboard: %w", err)
	}
	return writeFile(name, b.Bytes())
}

func readPNG(name string) (image.Image, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", filepath.Base(name), err)
	}
	return img, nil
}

// vtt is the WebVTT file whose cues map [i*interval, (i+1)*interval) to thumbnail i, the last one to the
// end of the video.
func (sb storyboard) vtt() []byte {
	var b bytes.Buffer
	b.WriteString("WEBVTT\n")
	for i := range sb.count {
		start := time.Duration(i) * sb.interval
		end := start + sb.interval
		if i == sb.count-1 || end > sb.duration {
			end = max(sb.duration, start+time.Millisecond)
		}
		fmt.Fprintf(&b, "\n%s --> %s\n%s#xywh=%d,%d,%d,%d\n", vttTime(start), vttTime(end), StoryboardJPEG,
			i%sb.cols*sb.w, i/sb.cols*sb.h, sb.w, sb.h)
	}
	return b.Bytes()
}

func vttTime(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3_600_000, ms/60_000%60, ms/1000%60, ms%1000)
}
