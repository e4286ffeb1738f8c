package ladder_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/vod/ladder"
)

func TestValidate(t *testing.T) {
	rung := func(f func(r *ladder.Rung)) ladder.Ladder {
		l := ladder.Default()
		f(&l.Rungs[1])
		return l
	}
	tests := []struct {
		name   string
		ladder ladder.Ladder
		err    string // "" is valid
	}{
		{"default", ladder.Default(), ""},
		{"explicit max rate", rung(func(r *ladder.Rung) { r.MaxRate = r.VideoBitrate }), ""},
		{"frame rate cap", rung(func(r *ladder.Rung) { r.FrameRate = 29.97 }), ""},
		{"no rungs", ladder.Ladder{AudioBitrate: 128_000}, "no rungs"},
		{"no audio bitrate", func() ladder.Ladder { l := ladder.Default(); l.AudioBitrate = 0; return l }(), "audio bitrate 0"},
		{"empty name", rung(func(r *ladder.Rung) { r.Name = "" }), `rung 1 (""): the name must be made of [a-z0-9_-]`},
		{"upper case name", rung(func(r *ladder.Rung) { r.Name = "HD" }), `rung 1 ("HD"): the name must be made of`},
		{"name with a slash", rung(func(r *ladder.Rung) { r.Name = "../x" }), `the name must be made of`},
		{"name with a space", rung(func(r *ladder.Rung) { r.Name = "hd 720" }), `the name must be made of`},
		{"allowed punctuation", rung(func(r *ladder.Rung) { r.Name = "hd_720-a" }), ""},
		{"duplicate name", rung(func(r *ladder.Rung) { r.Name = "1080p" }), `rung 1 ("1080p"): the name is used twice`},
		{"passthrough name taken", func() ladder.Ladder {
			l := rung(func(r *ladder.Rung) { r.Name = ladder.SourceName })
			l.Passthrough = true
			return l
		}(), `rung 1 ("source"): the name "source" is the passthrough variant's`},
		{"source name without passthrough", rung(func(r *ladder.Rung) { r.Name = ladder.SourceName }), ""},
		{"zero height", rung(func(r *ladder.Rung) { r.Height = 0 }), "height 0 is not a positive even number"},
		{"negative height", rung(func(r *ladder.Rung) { r.Height = -720 }), "height -720 is not a positive even number"},
		{"odd height", rung(func(r *ladder.Rung) { r.Height = 721 }), `rung 1 ("720p"): height 721 is not a positive even number`},
		{"zero bitrate", rung(func(r *ladder.Rung) { r.VideoBitrate = 0 }), "video bitrate 0 is not positive"},
		{"max rate below bitrate", rung(func(r *ladder.Rung) { r.MaxRate = r.VideoBitrate - 1 }), "max rate 2499999 is below the video bitrate 2500000"},
		{"negative max rate", rung(func(r *ladder.Rung) { r.MaxRate = -1 }), "max rate -1 is below"},
		{"negative frame rate", rung(func(r *ladder.Rung) { r.FrameRate = -1 }), "frame rate -1 is not 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ladder.Validate()
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ladder.ErrInvalid)
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestPeakRate(t *testing.T) {
	require.Equal(t, 900_000, ladder.Rung{VideoBitrate: 600_000}.PeakRate())
	require.Equal(t, 700_000, ladder.Rung{VideoBitrate: 600_000, MaxRate: 700_000}.PeakRate())
}

func TestFor(t *testing.T) {
	type size struct {
		name string
		w, h int
	}
	passthrough := ladder.Default()
	passthrough.Passthrough = true
	tests := []struct {
		name   string
		ladder ladder.Ladder
		w, h   int
		want   []size
	}{
		{"1080p source", ladder.Default(), 1920, 1080,
			[]size{{"1080p", 1920, 1080}, {"720p", 1280, 720}, {"480p", 854, 480}, {"360p", 640, 360}}},
		{"720p source is never upscaled", ladder.Default(), 1280, 720,
			[]size{{"720p", 1280, 720}, {"480p", 854, 480}, {"360p", 640, 360}}},
		{"4K source", ladder.Default(), 3840, 2160,
			[]size{{"1080p", 1920, 1080}, {"720p", 1280, 720}, {"480p", 854, 480}, {"360p", 640, 360}}},
		{"portrait (a rotated phone video)", ladder.Default(), 1080, 1920,
			[]size{{"1080p", 1080, 1920}, {"720p", 720, 1280}, {"480p", 480, 854}, {"360p", 360, 640}}},
		{"portrait 720x1280", ladder.Default(), 720, 1280,
			[]size{{"720p", 720, 1280}, {"480p", 480, 854}, {"360p", 360, 640}}},
		{"square", ladder.Default(), 500, 500,
			[]size{{"480p", 480, 480}, {"360p", 360, 360}}},
		{"4:3", ladder.Default(), 640, 480,
			[]size{{"480p", 640, 480}, {"360p", 480, 360}}},
		{"cinemascope", ladder.Default(), 1920, 800,
			[]size{{"720p", 1728, 720}, {"480p", 1152, 480}, {"360p", 864, 360}}},
		{"odd size", ladder.Default(), 1281, 721,
			[]size{{"720p", 1280, 720}, {"480p", 852, 480}, {"360p", 640, 360}}},
		{"odd width at a rung's height never exceeds the source", ladder.Default(), 853, 480,
			[]size{{"480p", 852, 480}, {"360p", 640, 360}}},
		{"just under a rung", ladder.Default(), 1278, 718,
			[]size{{"480p", 854, 480}, {"360p", 640, 360}}},
		{"smaller than every rung", ladder.Default(), 320, 180,
			[]size{{"360p", 320, 180}}},
		{"tiny and odd", ladder.Default(), 161, 91,
			[]size{{"360p", 160, 90}}},
		{"tiny portrait", ladder.Default(), 91, 161,
			[]size{{"360p", 90, 160}}},
		{"one pixel", ladder.Default(), 1, 1,
			[]size{{"360p", 2, 2}}},
		{"a line", ladder.Default(), 1000, 1,
			[]size{{"360p", 1000, 2}}},
		{"unsorted rungs come out largest first", ladder.Ladder{AudioBitrate: 1, Rungs: []ladder.Rung{
			{Name: "low", Height: 240, VideoBitrate: 1}, {Name: "high", Height: 480, VideoBitrate: 1},
		}}, 854, 480, []size{{"high", 854, 480}, {"low", 428, 240}}},
		{"passthrough above the top rung", passthrough, 3840, 2160,
			[]size{{"source", 3840, 2160}, {"1080p", 1920, 1080}, {"720p", 1280, 720}, {"480p", 854, 480}, {"360p", 640, 360}}},
		{"passthrough between rungs", passthrough, 1000, 562,
			[]size{{"source", 1000, 562}, {"480p", 854, 480}, {"360p", 640, 360}}},
		{"passthrough at a rung's size adds nothing", passthrough, 1280, 720,
			[]size{{"720p", 1280, 720}, {"480p", 854, 480}, {"360p", 640, 360}}},
		{"passthrough below every rung adds nothing", passthrough, 320, 180,
			[]size{{"360p", 320, 180}}},
		{"no size", ladder.Default(), 0, 720, nil},
		{"negative size", ladder.Default(), 1280, -720, nil},
		{"no rungs", ladder.Ladder{}, 1280, 720, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []size
			for _, v := range tt.ladder.For(tt.w, tt.h) {
				require.Zero(t, v.Width%2, "odd width %d", v.Width)
				require.Zero(t, v.Height%2, "odd height %d", v.Height)
				got = append(got, size{v.Name, v.Width, v.Height})
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestForKeepsTheRung(t *testing.T) {
	l := ladder.Default()
	l.Rungs[2].FrameRate = 30
	l.Rungs[2].MaxRate = 1_200_000
	v := l.For(1280, 720)
	require.Len(t, v, 3)
	require.Equal(t, l.Rungs[2], v[1].Rung)

	// the lowest rung, sized down to the source, keeps its nominal height and bit rates
	v = l.For(320, 180)
	require.Equal(t, l.Rungs[3], v[0].Rung)
	require.Equal(t, 180, v[0].Height)
}

func TestForPassthroughBitrates(t *testing.T) {
	l := ladder.Default()
	l.Passthrough = true
	l.Rungs[0].FrameRate = 30
	src := l.For(3840, 2160)[0]
	// four times the pixels of 1080p, the nearest rung
	require.Equal(t, ladder.Rung{Name: "source", Height: 2160, VideoBitrate: 20_000_000, MaxRate: 30_000_000}, src.Rung)
	require.NoError(t, ladder.Ladder{Rungs: []ladder.Rung{src.Rung}, AudioBitrate: 1}.Validate())

	// 562 lines are nearest to 480p
	src = l.For(1000, 562)[0]
	require.Equal(t, 1_370_851, src.VideoBitrate)
}

func TestForDoesNotReorderTheLadder(t *testing.T) {
	l := ladder.Ladder{AudioBitrate: 1, Rungs: []ladder.Rung{
		{Name: "low", Height: 240, VideoBitrate: 1}, {Name: "high", Height: 480, VideoBitrate: 1},
	}}
	l.For(854, 480)
	require.Equal(t, "low", l.Rungs[0].Name)
}
