package transcode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Info describes a source file.
type Info struct {
	// Duration is the container's duration (ffprobe's format duration).
	Duration time.Duration
	// Width and Height are the displayed picture size: after Rotation, and with square pixels.
	Width, Height int
	// VideoCodec and AudioCodec are ffprobe's codec names ("h264", "aac"); AudioCodec is empty without
	// audio.
	VideoCodec, AudioCodec string
	// FrameRate is the average frame rate, 0 when unknown.
	FrameRate float64
	HasAudio  bool
	// Rotation is how many degrees clockwise a player turns the coded picture: 0, 90, 180 or 270.
	Rotation int
	// FormatName is ffprobe's container name ("mov,mp4,m4a,3gp,3g2,mj2", "mpegts").
	FormatName string
}

// source is what Process needs of a source beyond Info.
type source struct {
	Info
	videoIndex, audioIndex int // stream indexes in the file; audioIndex is -1 without audio
	// videoDuration is the video stream's duration when the container says, else Duration: the output's
	// duration is compared with it.
	videoDuration time.Duration
	pixFmt        string
	sampleRate    int
}

// Probe runs ffprobe on the local file at path.
func Probe(ctx context.Context, ffprobe, path string) (Info, error) {
	src, err := probe(ctx, ffprobe, path)
	return src.Info, err
}

type probeOutput struct {
	Streams []probeStream `json:"streams"`
	Format  struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

type probeStream struct {
	Index             int    `json:"index"`
	CodecType         string `json:"codec_type"`
	CodecName         string `json:"codec_name"`
	Width             int    `json:"width"`
	Height            int    `json:"height"`
	PixFmt            string `json:"pix_fmt"`
	SampleAspectRatio string `json:"sample_aspect_ratio"`
	AvgFrameRate      string `json:"avg_frame_rate"`
	RFrameRate        string `json:"r_frame_rate"`
	Duration          string `json:"duration"`
	SampleRate        string `json:"sample_rate"`
	Disposition       struct {
		AttachedPic int `json:"attached_pic"`
	} `json:"disposition"`
	Tags         map[string]string `json:"tags"`
	SideDataList []struct {
		SideDataType string  `json:"side_data_type"`
		Rotation     float64 `json:"rotation"`
	} `json:"side_data_list"`
}

func probe(ctx context.Context, ffprobe, path string) (source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return source{}, fmt.Errorf("probing %s: %w", path, err)
	}
	var stderr bytes.Buffer
	// "file:" keeps a name with a colon from being read as a protocol
	cmd := exec.CommandContext(ctx, ffprobe, "-v", "error", "-print_format", "json",
		"-show_format", "-show_streams", "file:"+abs)
	cmd.Stderr = &stderr
	cmd.WaitDelay = waitDelay
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return source{}, fmt.Errorf("probing %s: %w", path, ctx.Err())
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return source{}, fmt.Errorf("%w: ffprobe: %s", ErrNotVideo, lastLine(stderr.String(), exit.Error()))
		}
		return source{}, fmt.Errorf("probing %s: %w", path, err)
	}
	var p probeOutput
	if err := json.Unmarshal(out, &p); err != nil {
		return source{}, fmt.Errorf("probing %s: reading ffprobe's output: %w", path, err)
	}
	return p.source()
}

func (p probeOutput) source() (source, error) {
	src := source{videoIndex: -1, audioIndex: -1}
	src.FormatName = p.Format.FormatName
	var video, audio *probeStream
	for i := range p.Streams {
		s := &p.Streams[i]
		switch {
		case s.CodecType == "video" && s.Disposition.AttachedPic == 0 && video == nil:
			video = s
		case s.CodecType == "audio" && audio == nil:
			audio = s
		}
	}
	if video == nil {
		return source{}, fmt.Errorf("%w: no video stream (%s)", ErrNotVideo, p.Format.FormatName)
	}
	if p.Format.FormatName == "image2" || strings.HasSuffix(p.Format.FormatName, "_pipe") {
		return source{}, fmt.Errorf("%w: a still image (%s)", ErrNotVideo, p.Format.FormatName)
	}
	if video.Width <= 0 || video.Height <= 0 {
		return source{}, fmt.Errorf("%w: the video stream has no picture size", ErrNotVideo)
	}
	src.videoIndex = video.Index
	src.VideoCodec = video.CodecName
	src.pixFmt = video.PixFmt
	src.FrameRate = rate(video.AvgFrameRate)
	if src.FrameRate == 0 {
		src.FrameRate = rate(video.RFrameRate)
	}
	src.Rotation = rotation(*video)
	w, h := video.Width, video.Height
	if sar := rate(strings.Replace(video.SampleAspectRatio, ":", "/", 1)); sar > 0 && sar != 1 {
		w = int(math.Round(float64(w)*sar/2)) * 2
	}
	if src.Rotation == 90 || src.Rotation == 270 {
		w, h = h, w
	}
	src.Width, src.Height = w, h

	src.Duration = seconds(p.Format.Duration)
	src.videoDuration = seconds(video.Duration)
	if src.Duration <= 0 {
		src.Duration = src.videoDuration
	}
	if src.videoDuration <= 0 || src.videoDuration > src.Duration {
		src.videoDuration = src.Duration
	}
	if src.Duration <= 0 {
		return source{}, fmt.Errorf("%w: no duration (%s)", ErrNotVideo, p.Format.FormatName)
	}

	if audio != nil {
		src.HasAudio = true
		src.audioIndex = audio.Index
		src.AudioCodec = audio.CodecName
		src.sampleRate, _ = strconv.Atoi(audio.SampleRate)
	}
	return src, nil
}

// rotation reads the display matrix (ffprobe gives its counterclockwise angle) or, from older muxers,
// the rotate tag (clockwise).
func rotation(s probeStream) int {
	deg := 0.0
	if r, err := strconv.ParseFloat(s.Tags["rotate"], 64); err == nil {
		deg = r
	}
	for _, sd := range s.SideDataList {
		if sd.SideDataType == "Display Matrix" {
			deg = -sd.Rotation
		}
	}
	r := int(math.Round(deg/90)) * 90 % 360
	if r < 0 {
		r += 360
	}
	return r
}

// rate parses "30000/1001"; 0 for anything else or a zero denominator.
func rate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		return 0
	}
	n, err1 := strconv.ParseFloat(num, 64)
	d, err2 := strconv.ParseFloat(den, 64)
	if err1 != nil || err2 != nil || d == 0 || n <= 0 {
		return 0
	}
	return n / d
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// lastLine is the last non-empty line of s, or def.
func lastLine(s, def string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return def
}
