// Package ladder describes an adaptive bit rate ladder and picks the variants a picture size gets from it.
package ladder

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
)

// ErrInvalid is wrapped by every error of Validate.
var ErrInvalid = errors.New("invalid ladder")

// Rung is one step of the ladder.
type Rung struct {
	// Name names the rendition (a directory, a URL path element): [a-z0-9_-]+.
	Name string
	// Height is the size of the picture's short side: a landscape picture's height, a portrait picture's
	// width, so that "720p" is 1280x720 in landscape and 720x1280 in portrait.
	Height int
	// VideoBitrate is the target average video bit rate in bit/s.
	VideoBitrate int
	// MaxRate is the peak video bit rate in bit/s the encoder's buffer model keeps to; 0 is 1.5 times
	// VideoBitrate.
	MaxRate int
	// FrameRate caps the frame rate (never raised above the source's); 0 keeps the source's.
	FrameRate float64
}

// PeakRate is MaxRate with its default applied.
func (r Rung) PeakRate() int {
	if r.MaxRate > 0 {
		return r.MaxRate
	}
	return r.VideoBitrate * 3 / 2
}

// Ladder is the set of renditions offered for a source.
type Ladder struct {
	Rungs []Rung
	// AudioBitrate is the bit rate of the AAC audio of every rendition, in bit/s.
	AudioBitrate int
	// Passthrough offers the source itself as the top variant, named SourceName, at the source's size,
	// when the source is larger than the largest rung it gets (never smaller than every rung).
	//
	// LIVE copies the source into that variant without encoding it, when the source is H.264.
	//
	// VOD cannot copy it: the variants of an adaptive stream must switch on the same instants, so every
	// variant is encoded with keyframes forced on the segment boundaries, and a copied source keeps its
	// own keyframes. For VOD, Passthrough therefore means one more variant, encoded at the source's
	// resolution, at the bit rates For gives it.
	Passthrough bool
}

// SourceName is the name of the variant Passthrough adds.
const SourceName = "source"

// Default is nagare's ladder: 1080p to 360p, 128 kbit/s audio, no passthrough.
func Default() Ladder {
	return Ladder{
		Rungs: []Rung{
			{Name: "1080p", Height: 1080, VideoBitrate: 5_000_000},
			{Name: "720p", Height: 720, VideoBitrate: 2_500_000},
			{Name: "480p", Height: 480, VideoBitrate: 1_000_000},
			{Name: "360p", Height: 360, VideoBitrate: 600_000},
		},
		AudioBitrate: 128_000,
	}
}

var validName = regexp.MustCompile(`^[a-z0-9_-]+$`)

// Validate reports the first problem of the ladder, naming the rung.
func (l Ladder) Validate() error {
	if len(l.Rungs) == 0 {
		return fmt.Errorf("%w: no rungs", ErrInvalid)
	}
	if l.AudioBitrate <= 0 {
		return fmt.Errorf("%w: audio bitrate %d is not positive", ErrInvalid, l.AudioBitrate)
	}
	names := map[string]bool{}
	for i, r := range l.Rungs {
		where := fmt.Sprintf("rung %d (%q)", i, r.Name)
		switch {
		case !validName.MatchString(r.Name):
			return fmt.Errorf("%w: %s: the name must be made of [a-z0-9_-]", ErrInvalid, where)
		case names[r.Name]:
			return fmt.Errorf("%w: %s: the name is used twice", ErrInvalid, where)
		case l.Passthrough && r.Name == SourceName:
			return fmt.Errorf("%w: %s: the name %q is the passthrough variant's", ErrInvalid, where, SourceName)
		case r.Height <= 0 || r.Height%2 != 0:
			return fmt.Errorf("%w: %s: height %d is not a positive even number", ErrInvalid, where, r.Height)
		case r.VideoBitrate <= 0:
			return fmt.Errorf("%w: %s: video bitrate %d is not positive", ErrInvalid, where, r.VideoBitrate)
		case r.MaxRate != 0 && r.MaxRate < r.VideoBitrate:
			return fmt.Errorf("%w: %s: max rate %d is below the video bitrate %d", ErrInvalid, where, r.MaxRate, r.VideoBitrate)
		case r.FrameRate < 0 || math.IsNaN(r.FrameRate) || math.IsInf(r.FrameRate, 0):
			return fmt.Errorf("%w: %s: frame rate %v is not 0 (the source's) or positive", ErrInvalid, where, r.FrameRate)
		}
		names[r.Name] = true
	}
	return nil
}

// Variant is a rung sized for one source.
type Variant struct {
	Rung
	// Width and Height are the encoded picture's size (even numbers, never above the source's). Height
	// shadows Rung.Height, which stays the rung's nominal short side.
	Width, Height int
}

// For returns the variants of a source of srcWidth x srcHeight (its displayed size: after rotation and
// with square pixels), the largest first. It never upscales: a rung whose short side exceeds the
// source's is left out, and a source smaller than every rung gets the lowest rung at the source's own
// size. The other side follows the source's aspect ratio, rounded to an even number. For returns nil
// for a ladder without rungs or a size that is not positive, and at least one variant otherwise.
func (l Ladder) For(srcWidth, srcHeight int) []Variant {
	if len(l.Rungs) == 0 || srcWidth <= 0 || srcHeight <= 0 {
		return nil
	}
	short, long := srcHeight, srcWidth
	portrait := srcHeight > srcWidth
	if portrait {
		short, long = srcWidth, srcHeight
	}
	size := func(s int) (w, h int) {
		s = min(floorEven(s), floorEven(short))
		if s < 2 {
			s = 2
		}
		lg := min(roundEven(float64(long)*float64(s)/float64(short)), floorEven(long))
		if lg < 2 {
			lg = 2
		}
		if portrait {
			return s, lg
		}
		return lg, s
	}

	rungs := slices.Clone(l.Rungs)
	slices.SortStableFunc(rungs, func(a, b Rung) int { return b.Height - a.Height })
	var out []Variant
	for _, r := range rungs {
		if r.Height > short {
			continue
		}
		w, h := size(r.Height)
		out = append(out, Variant{Rung: r, Width: w, Height: h})
	}
	if len(out) == 0 {
		lowest := rungs[len(rungs)-1]
		w, h := size(short)
		return []Variant{{Rung: lowest, Width: w, Height: h}}
	}
	if l.Passthrough && out[0].Rung.Height < floorEven(short) {
		out = slices.Insert(out, 0, l.source(rungs, short, size))
	}
	return out
}

// source is the passthrough variant: bit rates are those of the rung nearest the source's size, scaled
// by the ratio of the pixel counts (a guess for LIVE, which copies; the target for VOD, which encodes).
func (l Ladder) source(rungs []Rung, short int, size func(int) (int, int)) Variant {
	near := rungs[0] // rungs are sorted by height, the largest first
	for _, r := range rungs {
		if abs(r.Height-short) < abs(near.Height-short) {
			near = r
		}
	}
	ratio := float64(short) * float64(short) / (float64(near.Height) * float64(near.Height))
	v := Variant{Rung: Rung{
		Name:         SourceName,
		Height:       floorEven(short),
		VideoBitrate: int(math.Round(float64(near.VideoBitrate) * ratio)),
		MaxRate:      int(math.Round(float64(near.PeakRate()) * ratio)),
	}}
	v.Width, v.Height = size(short)
	return v
}

func floorEven(n int) int { return n &^ 1 }

func roundEven(f float64) int { return int(math.Round(f/2)) * 2 }

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
