package ctl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// pj writes messages as the gRPC JSON mapping does, with every field present so that a script reads 0 or
// "" rather than a missing key.
var pj = protojson.MarshalOptions{EmitUnpopulated: true}

// printProto prints one message as indented JSON.
func printProto(e *env, m proto.Message) error {
	raw, err := pj.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding the answer: %w", err)
	}
	return printJSON(e.stdout, raw)
}

// printProtos prints messages as an indented JSON array.
func printProtos[M proto.Message](e *env, ms []M) error {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, m := range ms {
		if i > 0 {
			buf.WriteByte(',')
		}
		raw, err := pj.Marshal(m)
		if err != nil {
			return fmt.Errorf("encoding the answer: %w", err)
		}
		buf.Write(raw)
	}
	buf.WriteByte(']')
	return printJSON(e.stdout, buf.Bytes())
}

// Enum values as the command line spells them: the proto names without their prefix, in lower case.
func visibilityText(v vodv1.Visibility) string { return enumText(v.String(), "VISIBILITY_") }
func statusText(s vodv1.Status) string         { return enumText(s.String(), "STATUS_") }
func sourceText(s vodv1.Source) string         { return enumText(s.String(), "SOURCE_") }

func enumText(name, prefix string) string {
	s := strings.ToLower(strings.TrimPrefix(name, prefix))
	if s == "unspecified" {
		return "-"
	}
	return s
}

func parseVisibility(cmd, s string) (vodv1.Visibility, error) {
	v, ok := vodv1.Visibility_value["VISIBILITY_"+strings.ToUpper(s)]
	if !ok || v == 0 {
		return 0, usagef("%s: --visibility must be private, unlisted or public, not %q", cmd, s)
	}
	return vodv1.Visibility(v), nil
}

func parseStatus(cmd, s string) (vodv1.Status, error) {
	v, ok := vodv1.Status_value["STATUS_"+strings.ToUpper(s)]
	if !ok || v == 0 {
		return 0, usagef("%s: --status must be uploading, processing, ready or failed, not %q", cmd, s)
	}
	return vodv1.Status(v), nil
}

func pbStamp(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return stamp(ts.AsTime())
}

// seconds formats a duration in seconds: tenths under a minute, else coarsely.
func seconds(s float64) string {
	if s <= 0 {
		return "-"
	}
	if s < 60 {
		return strconv.FormatFloat(s, 'f', 1, 64) + "s"
	}
	return short(time.Duration(s * float64(time.Second)))
}

func sizeText(n int64) string {
	if n <= 0 {
		return "-"
	}
	return bytesIEC(uint64(n))
}

// parseID parses the arguments of a command on one video. A video id may begin with "-" (it is base64url),
// so an argument shaped like an id that is not one of the command's flags, nor a flag's value, is taken
// for the id rather than refused as an unknown flag.
func (e *env) parseID(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest, ids []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if looksLikeID(a) && fs.Lookup(strings.TrimLeft(a, "-")) == nil {
			ids = append(ids, a)
			continue
		}
		rest = append(rest, a)
		if strings.HasPrefix(a, "-") {
			name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-") // "name" or "name=value"
			if f := fs.Lookup(name); f != nil && !isBoolFlag(f) && i+1 < len(args) {
				i++
				rest = append(rest, args[i]) // the flag's value, whatever it looks like
			}
		}
	}
	if len(ids) > 0 {
		if !slices.Contains(rest, "--") {
			rest = append(rest, "--")
		}
		rest = append(rest, ids...)
	}
	return e.parse(fs, rest, "ID")
}

// looksLikeID reports whether a is a video id that begins with "-": what the service makes is 16
// characters of base64url.
func looksLikeID(a string) bool {
	if len(a) != 16 || a[0] != '-' {
		return false
	}
	for _, c := range a {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// ---- the library ----

// vodListPage is the largest page ListVideos returns (tests lower it to see ls follow the pages).
var vodListPage = 100

func vodList(e *env, args []string) error {
	fs := e.flags()
	owner := fs.String("owner", "", "only the videos of this `owner` (an upload token sees its own only)")
	st := fs.String("status", "", "only videos in this `status`: uploading, processing, ready or failed")
	limit := fs.Int("limit", 100, "show at most `N` videos, newest first")
	if _, err := e.parse(fs, args); err != nil {
		return err
	}
	req := &vodv1.ListVideosRequest{Owner: *owner}
	if *st != "" {
		s, err := parseStatus(e.cmd.name, *st)
		if err != nil {
			return err
		}
		req.Status = s
	}
	if *limit < 1 {
		return usagef("%s: --limit must be positive, not %d", e.cmd.name, *limit)
	}
	c, err := e.vodClient()
	if err != nil {
		return err
	}
	var vs []*vodv1.Video
	for len(vs) < *limit {
		req.PageSize = int32(min(*limit-len(vs), vodListPage))
		page, err := c.api.ListVideos(e.ctx, req)
		if err != nil {
			return c.fail(err)
		}
		vs = append(vs, page.Videos...)
		if page.NextPageToken == "" || len(page.Videos) == 0 {
			break
		}
		req.PageToken = page.NextPageToken
	}
	vs = vs[:min(len(vs), *limit)]
	if e.json {
		return printProtos(e, vs)
	}
	t := newTable(e.stdout, "ID", "TITLE", "OWNER", "STATUS", "PROGRESS", "DURATION", "SIZE", "VISIBILITY", "CREATED")
	for _, v := range vs {
		t.row(v.Id, v.Title, v.Owner, statusText(v.Status), fmt.Sprintf("%d%%", v.Progress), seconds(v.DurationSeconds),
			sizeText(v.Size), visibilityText(v.Visibility), pbStamp(v.CreatedAt))
	}
	return t.flush()
}

func vodInfo(e *env, args []string) error {
	pos, err := e.parseID(e.flags(), args)
	if err != nil {
		return err
	}
	c, err := e.vodClient()
	if err != nil {
		return err
	}
	v, err := c.api.GetVideo(e.ctx, &vodv1.GetVideoRequest{Id: pos[0]})
	if err != nil {
		return c.fail(err)
	}
	if e.json {
		return printProto(e, v)
	}
	return videoText(e.stdout, v)
}

func videoText(w io.Writer, v *vodv1.Video) error {
	state := statusText(v.Status)
	switch v.Status {
	case vodv1.Status_STATUS_PROCESSING:
		state += fmt.Sprintf(" (%d%%)", v.Progress)
	case vodv1.Status_STATUS_FAILED:
		state += ": " + v.Failure
	}
	size := "-"
	if v.Size > 0 {
		size = fmt.Sprintf("%s (%d bytes)", bytesIEC(uint64(v.Size)), v.Size)
	}
	res := "-"
	if v.Width > 0 && v.Height > 0 {
		res = fmt.Sprintf("%dx%d", v.Width, v.Height)
	}
	mp4 := "no"
	if v.HasMp4 {
		mp4 = "yes"
	}
	kv := []string{
		"ID", v.Id, "Title", orDash(v.Title), "Description", orDash(v.Description), "Owner", v.Owner,
		"Visibility", visibilityText(v.Visibility), "Status", state, "Progress", fmt.Sprintf("%d%%", v.Progress),
		"Source", sourceText(v.Source),
	}
	if v.Stream != "" {
		kv = append(kv, "Stream", v.Stream)
	}
	kv = append(kv, "File name", orDash(v.FileName), "Size", size, "SHA-256", orDash(v.Sha256),
		"Duration", seconds(v.DurationSeconds), "Resolution", res, "Video codec", orDash(v.VideoCodec),
		"Audio codec", orDash(v.AudioCodec), "MP4", mp4, "Created", pbStamp(v.CreatedAt), "Updated", pbStamp(v.UpdatedAt))
	if err := fields(w, kv...).flush(); err != nil {
		return err
	}
	if len(v.Renditions) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := newTable(w, "RENDITION", "RESOLUTION", "BANDWIDTH")
	for _, r := range v.Renditions {
		t.row(r.Name, fmt.Sprintf("%dx%d", r.Width, r.Height), fmt.Sprintf("%d kbit/s", r.Bandwidth/1000))
	}
	return t.flush()
}

func vodSet(e *env, args []string) error {
	fs := e.flags()
	title := fs.String("title", "", "the new `title`")
	desc := fs.String("description", "", "the new `description` (\"\" clears it)")
	vis := fs.String("visibility", "", "private, unlisted or public")
	pos, err := e.parseID(fs, args)
	if err != nil {
		return err
	}
	req := &vodv1.UpdateVideoRequest{Id: pos[0]}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "title":
			req.Title = title
		case "description":
			req.Description = desc
		}
	})
	if *vis != "" {
		if req.Visibility, err = parseVisibility(e.cmd.name, *vis); err != nil {
			return err
		}
	}
	if req.Title == nil && req.Description == nil && req.Visibility == 0 {
		return usagef("%s: give at least one of --title, --description, --visibility", e.cmd.name)
	}
	c, err := e.vodClient()
	if err != nil {
		return err
	}
	v, err := c.api.UpdateVideo(e.ctx, req)
	if err != nil {
		return c.fail(err)
	}
	if e.json {
		return printProto(e, v)
	}
	_, err = fmt.Fprintf(e.stdout, "video %s updated: %q, %s\n", v.Id, v.Title, visibilityText(v.Visibility))
	return err
}

func vodURL(e *env, args []string) error {
	fs := e.flags()
	ttl := fs.Duration("ttl", time.Hour, "how long the signed URLs of a private video stay valid (at most 168h)")
	pos, err := e.parseID(fs, args)
	if err != nil {
		return err
	}
	if *ttl < time.Second {
		return usagef("%s: --ttl must be at least 1s, not %s", e.cmd.name, *ttl)
	}
	c, err := e.vodClient()
	if err != nil {
		return err
	}
	pb, err := c.api.PlaybackURLs(e.ctx, &vodv1.PlaybackURLsRequest{Id: pos[0], TtlSeconds: int64(ttl.Seconds())})
	if err != nil {
		return c.fail(err)
	}
	if e.json {
		return printProto(e, pb)
	}
	expires := "never (the video is not private)"
	if pb.ExpiresAt != nil {
		expires = pbStamp(pb.ExpiresAt)
	}
	return fields(e.stdout, "HLS", orDash(pb.Hls), "MP4", orDash(pb.Mp4), "Poster", orDash(pb.Poster),
		"Storyboard", orDash(pb.Storyboard), "Expires", expires).flush()
}

func vodRemove(e *env, args []string) error {
	pos, err := e.parseID(e.flags(), args)
	if err != nil {
		return err
	}
	c, err := e.vodClient()
	if err != nil {
		return err
	}
	res, err := c.api.DeleteVideo(e.ctx, &vodv1.DeleteVideoRequest{Id: pos[0]})
	if err != nil {
		return c.fail(err)
	}
	if e.json {
		return printProto(e, res)
	}
	_, err = fmt.Fprintf(e.stdout, "video %s deleted\n", pos[0])
	return err
}

// ---- download ----

func vodDownload(e *env, args []string) error {
	fs := e.flags()
	mp4 := fs.Bool("mp4", false, "the processed MP4 rather than the original file")
	out := fs.String("O", "", "write to `FILE` (required; - is stdout)")
	pos, err := e.parseID(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("%s: -O FILE is required", e.cmd.name)
	}
	if *out == "-" && e.json {
		return usagef("%s: -o json prints a summary on stdout; it cannot go with -O -", e.cmd.name)
	}
	c, err := e.vodClient()
	if err != nil {
		return err
	}
	req := &vodv1.DownloadRequest{Id: pos[0]}
	if *mp4 {
		req.Rendering = vodv1.Rendering_RENDERING_MP4
	}

	var w io.Writer = e.stdout
	var tmp *os.File
	if *out != "-" {
		// a temporary name until the last byte is in: an interrupted download never looks complete
		tmp, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*.part")
		if err != nil {
			return fmt.Errorf("creating %s: %w", *out, err)
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w = tmp
	}
	ctx, wd := newWatchdog(e.base, stallLimit)
	defer wd.stop()
	stream, err := c.api.Download(ctx, req)
	if err != nil {
		return c.fail(wd.explain(err))
	}
	h := sha256.New()
	var n, size int64
	var prog *progress
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			prog.abandon()
			return c.fail(wd.explain(err))
		}
		wd.alive()
		if prog == nil {
			size = m.Size
			prog = newProgress(e.stderr, "downloading "+pos[0], m.Size, 0)
		}
		if _, err := w.Write(m.Chunk); err != nil {
			prog.abandon()
			return fmt.Errorf("writing %s: %w", *out, err)
		}
		h.Write(m.Chunk)
		n += int64(len(m.Chunk))
		prog.set(n)
	}
	prog.finish()
	if n != size {
		return fmt.Errorf("the download ended after %d of %d bytes", n, size)
	}
	if tmp != nil {
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", *out, err)
		}
		if err := os.Rename(tmp.Name(), *out); err != nil {
			return fmt.Errorf("writing %s: %w", *out, err)
		}
		tmp = nil
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if e.json {
		raw, _ := json.Marshal(map[string]any{"id": pos[0], "file": *out, "size": n, "sha256": sum})
		return printJSON(e.stdout, raw)
	}
	summary := e.stdout
	if *out == "-" {
		summary = e.stderr
	}
	_, err = fmt.Fprintf(summary, "downloaded %s (%d bytes, sha256 %s) to %s\n", bytesIEC(uint64(n)), n, sum, *out)
	return err
}
