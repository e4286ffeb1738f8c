package vod_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/vod/service"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// upload sends start and data (in chunks of chunk bytes) on one stream and half-closes it. It returns the
// server's answer and the upload id the server sent in the header ("" when it sent none).
func upload(t *testing.T, ctx context.Context, r *rig, start *vodv1.UploadStart, data []byte, chunk int) (*vodv1.UploadResponse, string, error) {
	t.Helper()
	stream, err := r.client.Upload(ctx)
	require.NoError(t, err)
	var res *vodv1.UploadResponse
	if err = send(t, stream, start, data, chunk); err == nil {
		res, err = stream.CloseAndRecv()
	}
	hdr, _ := stream.Header()
	return res, first(hdr, service.HeaderUploadID), err
}

// waitFinal polls a video until processing has ended (READY or FAILED) and returns it.
func waitFinal(t *testing.T, r *rig, id string, timeout time.Duration) *vodv1.Video {
	t.Helper()
	ctx := as(context.Background(), adminToken)
	var v *vodv1.Video
	require.Eventually(t, func() bool {
		var err error
		v, err = r.client.GetVideo(ctx, &vodv1.GetVideoRequest{Id: id})
		require.NoError(t, err)
		return v.Status == vodv1.Status_STATUS_READY || v.Status == vodv1.Status_STATUS_FAILED
	}, timeout, 100*time.Millisecond, "video %s never finished processing", id)
	return v
}

// videoIDs lists the ids of every video, as the admin sees them.
func videoIDs(t *testing.T, r *rig) []string {
	t.Helper()
	res, err := r.client.ListVideos(as(context.Background(), adminToken), &vodv1.ListVideosRequest{PageSize: 100})
	require.NoError(t, err)
	ids := []string{}
	for _, v := range res.Videos {
		ids = append(ids, v.Id)
	}
	slices.Sort(ids)
	return ids
}

// localObjects lists the objects under prefix in the rig's local storage.
func localObjects(t *testing.T, r *rig, prefix string) []string {
	t.Helper()
	st, err := objstore.NewLocal(r.cfg.Storage.Directory)
	require.NoError(t, err)
	infos, err := st.List(context.Background(), prefix)
	require.NoError(t, err)
	keys := []string{}
	for _, o := range infos {
		keys = append(keys, o.Key)
	}
	return keys
}

// openMultiparts lists the multipart uploads open in the rig's local storage (what Local keeps under
// .multipart, temp directories included).
func openMultiparts(t *testing.T, r *rig) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(r.cfg.Storage.Directory, ".multipart"))
	if os.IsNotExist(err) {
		return []string{}
	}
	require.NoError(t, err)
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// smallClip is a short, small H.264/AAC MP4 (320x240, about 100 KB a second).
func smallClip(t *testing.T, seconds string, extra ...string) []byte {
	t.Helper()
	testutil.RequireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "small.mp4")
	args := []string{"-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", seconds,
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-b:a", "64k", "-shortest"}
	args = append(append(args, extra...), out)
	b, err := exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, "%s", b)
	return readFile(t, out)
}

// refusal is a bad call and how the service answers it.
type refusal struct {
	name string
	// call makes the call and returns its error and, for an upload, the id the server gave it ("" if none).
	call func(t *testing.T) (uploadID string, err error)
	code codes.Code
	msg  string // a fragment of the status message
	// resumable: the upload is kept by design (the client may continue it from its committed size).
	resumable bool
}

// TestRefusals: every kind of bad call is refused with its own code and a message that says what is
// wrong, and a refused upload leaves nothing behind: no video in the library, no object under vod/ and no
// multipart upload open in storage. The uploads that stay resumable by design (a chunk past the declared
// size, an oversized chunk) can be queried, and deleting them removes their parts.
func TestRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	const maxSize, quota = 64 << 20, 40 << 20
	r := startVOD(t, func(c *config.Config) { c.VOD.MaxUploadSize, c.VOD.Quota = maxSize, quota })
	secret := []byte(tokenSecret)
	alice := service.SignUploadToken(secret, "alice", time.Now().Add(time.Hour))
	bob := service.SignUploadToken(secret, "bob", time.Now().Add(time.Hour))
	admin := as(context.Background(), adminToken)
	video := smallClip(t, "1")
	require.Greater(t, len(video), 8<<10)

	// Alice has an upload open: the other owner's calls must neither see nor touch it.
	res, aliceUpload, err := upload(t, as(context.Background(), alice), r,
		&vodv1.UploadStart{FileName: "alice.mp4", Size: 1000}, nil, 1)
	require.NoError(t, err)
	require.False(t, res.Complete)
	require.NotEmpty(t, aliceUpload)
	baseVideos, baseMultiparts := videoIDs(t, r), openMultiparts(t, r)
	require.Equal(t, []string{aliceUpload}, baseVideos)
	require.Len(t, baseMultiparts, 1)
	require.Empty(t, localObjects(t, r, "vod/"))

	newUpload := func(size int64) *vodv1.UploadStart {
		return &vodv1.UploadStart{Title: "t", FileName: "f.mp4", Size: size}
	}
	uploadAs := func(ctx context.Context, start *vodv1.UploadStart, data []byte, chunk int) func(t *testing.T) (string, error) {
		return func(t *testing.T) (string, error) {
			_, id, err := upload(t, ctx, r, start, data, chunk)
			return id, err
		}
	}
	unary := func(call func() error) func(t *testing.T) (string, error) {
		return func(t *testing.T) (string, error) { return "", call() }
	}
	withAuth := func(value string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "authorization", value)
	}
	text := bytes.Repeat([]byte("hello world\n"), 1000)
	notThis := sha(append([]byte("x"), video...))

	tests := []refusal{
		{"no token", uploadAs(context.Background(), newUpload(int64(len(video))), video, 64<<10),
			codes.Unauthenticated, `missing "authorization: Bearer <token>"`, false},
		{"no token, unary", unary(func() error {
			_, err := r.client.ListVideos(context.Background(), &vodv1.ListVideosRequest{})
			return err
		}), codes.Unauthenticated, `missing "authorization: Bearer <token>"`, false},
		{"wrong token", uploadAs(as(context.Background(), "not-the-admin-token"), newUpload(int64(len(video))), video, 64<<10),
			codes.Unauthenticated, "invalid token", false},
		{"basic auth", uploadAs(withAuth("Basic x"), newUpload(int64(len(video))), video, 64<<10),
			codes.Unauthenticated, `authorization must be "Bearer <token>"`, false},
		{"upload token signed with another secret", uploadAs(as(context.Background(),
			service.SignUploadToken([]byte("another-secret-0123456789"), "alice", time.Now().Add(time.Hour))), newUpload(10), nil, 1),
			codes.Unauthenticated, "invalid token", false},
		{"expired upload token", uploadAs(as(context.Background(), service.SignUploadToken(secret, "alice", time.Now().Add(-time.Minute))),
			newUpload(int64(len(video))), video, 64<<10), codes.Unauthenticated, "token expired", false},
		{"upload token for another owner", uploadAs(as(context.Background(), bob),
			&vodv1.UploadStart{Owner: "alice", FileName: "f.mp4", Size: int64(len(video))}, video, 64<<10),
			codes.PermissionDenied, `this token uploads for "bob" only`, false},
		{"first message a chunk", func(t *testing.T) (string, error) {
			stream, err := r.client.Upload(admin)
			require.NoError(t, err)
			_ = stream.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: video[:1000]}})
			_, err = stream.CloseAndRecv()
			return "", err
		}, codes.InvalidArgument, "the first message of an upload must be start", false},
		{"start twice", func(t *testing.T) (string, error) {
			stream, err := r.client.Upload(admin)
			require.NoError(t, err)
			start := &vodv1.UploadRequest{Data: &vodv1.UploadRequest_Start{Start: newUpload(int64(len(video)))}}
			_ = stream.Send(start)
			_ = stream.Send(start)
			_, err = stream.CloseAndRecv()
			hdr, _ := stream.Header()
			return first(hdr, service.HeaderUploadID), err
		}, codes.InvalidArgument, "start may only be the first message", true},
		{"size 0", uploadAs(admin, newUpload(0), nil, 1), codes.InvalidArgument, "size must be positive (got 0)", false},
		{"negative size", uploadAs(admin, newUpload(-5), nil, 1), codes.InvalidArgument, "size must be positive (got -5)", false},
		{"size over vod.maxUploadSize", uploadAs(admin, newUpload(maxSize+1), video, 64<<10),
			codes.InvalidArgument, "size 67108865 exceeds the limit of 67108864 bytes", false},
		{"sha256 not hex", uploadAs(admin, &vodv1.UploadStart{FileName: "f.mp4", Size: int64(len(video)), Sha256: strings.Repeat("zz", 32)}, video, 64<<10),
			codes.InvalidArgument, "sha256 must be 64 hex digits", false},
		{"sha256 too short", uploadAs(admin, &vodv1.UploadStart{FileName: "f.mp4", Size: int64(len(video)), Sha256: sha(video)[:62]}, video, 64<<10),
			codes.InvalidArgument, "sha256 must be 64 hex digits", false},
		{"file name with a path", uploadAs(admin, &vodv1.UploadStart{FileName: "../../etc/passwd", Size: int64(len(video))}, video, 64<<10),
			codes.InvalidArgument, "file_name must be a base name", false},
		{"bad owner name", uploadAs(admin, &vodv1.UploadStart{Owner: "../alice", FileName: "f.mp4", Size: int64(len(video))}, video, 64<<10),
			codes.InvalidArgument, "owner must be 1 to 128", false},
		{"write offset on a new upload", uploadAs(admin, &vodv1.UploadStart{FileName: "f.mp4", Size: int64(len(video)), WriteOffset: 5}, video, 64<<10),
			codes.InvalidArgument, "write_offset must be 0 for a new upload (got 5)", false},
		{"a text file", uploadAs(admin, newUpload(int64(len(text))), text, 1000), codes.InvalidArgument, "not a video", false},
		{"a text file shorter than the sniffed head", uploadAs(admin, newUpload(100), text[:100], 100), codes.InvalidArgument, "not a video", false},
		{"a short text file that starts with MPEG-TS's sync byte", uploadAs(admin, newUpload(13), []byte("Good morning\n"), 13),
			codes.InvalidArgument, "not a video", false},
		{"sha256 mismatch", uploadAs(admin, &vodv1.UploadStart{FileName: "f.mp4", Size: int64(len(video)), Sha256: notThis}, video, 64<<10),
			codes.DataLoss, "sha256 mismatch", false},
		{"sha256 mismatch, upper-case hex", uploadAs(admin, &vodv1.UploadStart{FileName: "f.mp4", Size: int64(len(video)), Sha256: strings.ToUpper(notThis)}, video, 64<<10),
			codes.DataLoss, "sha256 mismatch", false},
		{"chunks past the declared size", uploadAs(admin, newUpload(int64(len(video))-10), video, 4<<10),
			codes.InvalidArgument, "chunk past the declared size", true},
		{"a chunk over 1 MiB", uploadAs(admin, newUpload(4<<20), make([]byte, service.MaxChunk+1), service.MaxChunk+1),
			codes.InvalidArgument, "a chunk of 1048577 bytes is over the 1048576-byte limit", true},
		{"quota exceeded", uploadAs(as(context.Background(), alice), newUpload(quota-999), nil, 1),
			codes.ResourceExhausted, `quota of "alice" exceeded: 1000 bytes used`, false},
	}
	// Another owner's upload is not found through any call, whatever the call would do.
	for _, c := range []struct {
		name string
		call func(ctx context.Context, id string) error
	}{
		{"GetVideo", func(ctx context.Context, id string) error {
			_, err := r.client.GetVideo(ctx, &vodv1.GetVideoRequest{Id: id})
			return err
		}},
		{"QueryUpload", func(ctx context.Context, id string) error {
			_, err := r.client.QueryUpload(ctx, &vodv1.QueryUploadRequest{UploadId: id})
			return err
		}},
		{"DeleteVideo", func(ctx context.Context, id string) error {
			_, err := r.client.DeleteVideo(ctx, &vodv1.DeleteVideoRequest{Id: id})
			return err
		}},
		{"UpdateVideo", func(ctx context.Context, id string) error {
			title := "mine now"
			_, err := r.client.UpdateVideo(ctx, &vodv1.UpdateVideoRequest{Id: id, Title: &title})
			return err
		}},
		{"PlaybackURLs", func(ctx context.Context, id string) error {
			_, err := r.client.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: id})
			return err
		}},
		{"Download", func(ctx context.Context, id string) error {
			stream, err := r.client.Download(ctx, &vodv1.DownloadRequest{Id: id})
			if err == nil {
				_, err = stream.Recv()
			}
			return err
		}},
		{"Upload continuing it", func(ctx context.Context, id string) error {
			stream, err := r.client.Upload(ctx)
			if err == nil {
				err = send(t, stream, &vodv1.UploadStart{UploadId: id}, nil, 1)
			}
			if err == nil {
				_, err = stream.CloseAndRecv()
			}
			return err
		}},
	} {
		tests = append(tests, refusal{"another owner's upload via " + c.name, unary(func() error { return c.call(as(context.Background(), bob), aliceUpload) }),
			codes.NotFound, "not found", false})
		for _, id := range []string{"../x", "a/b", strings.Repeat("a", 1000), "%00", "a\x00b", "..", "vod/x"} {
			tests = append(tests, refusal{"hostile id " + strings.ToValidUTF8(id[:min(len(id), 8)], "?") + " via " + c.name, unary(func() error { return c.call(admin, id) }),
				codes.InvalidArgument, "is not a", false})
		}
		tests = append(tests, refusal{"unknown id via " + c.name, unary(func() error { return c.call(admin, "AAAAAAAAAAAAAAAA") }), codes.NotFound, "not found", false})
	}
	for _, c := range []struct {
		name string
		req  *vodv1.ListVideosRequest
		ctx  context.Context
		code codes.Code
		msg  string
	}{
		{"page_size 1000", &vodv1.ListVideosRequest{PageSize: 1000}, admin, codes.InvalidArgument, "page_size must be 1 to 100 (got 1000)"},
		{"page_size -1", &vodv1.ListVideosRequest{PageSize: -1}, admin, codes.InvalidArgument, "page_size must be 1 to 100 (got -1)"},
		{"garbage page_token", &vodv1.ListVideosRequest{PageToken: "garbage!"}, admin, codes.InvalidArgument, "page_token is not one this service made"},
		{"page_token naming a hostile id", &vodv1.ListVideosRequest{PageToken: base64.RawURLEncoding.EncodeToString([]byte("1700000000000:../x"))},
			admin, codes.InvalidArgument, "page_token is not one this service made"},
		{"page_token without a time", &vodv1.ListVideosRequest{PageToken: base64.RawURLEncoding.EncodeToString([]byte("abc"))},
			admin, codes.InvalidArgument, "page_token is not one this service made"},
		{"another owner's list", &vodv1.ListVideosRequest{Owner: "alice"}, as(context.Background(), bob), codes.PermissionDenied, `lists the videos of "bob" only`},
	} {
		tests = append(tests, refusal{"ListVideos " + c.name, unary(func() error {
			_, err := r.client.ListVideos(c.ctx, c.req)
			return err
		}), c.code, c.msg, false})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			videos, multiparts, objects := videoIDs(t, r), openMultiparts(t, r), localObjects(t, r, "vod/")
			id, err := tt.call(t)
			require.Error(t, err)
			require.Equal(t, tt.code, status.Code(err), "%v", err)
			require.Contains(t, status.Convert(err).Message(), tt.msg)

			if tt.resumable {
				// The upload stays, at the committed size, and the client may continue it.
				require.NotEmpty(t, id)
				st, err := r.client.QueryUpload(admin, &vodv1.QueryUploadRequest{UploadId: id})
				require.NoError(t, err)
				require.False(t, st.Complete)
				require.Zero(t, st.CommittedSize, "less than a part arrived: nothing is committed")
				require.Contains(t, videoIDs(t, r), id)
				// Deleting it aborts its multipart upload.
				_, err = r.client.DeleteVideo(admin, &vodv1.DeleteVideoRequest{Id: id})
				require.NoError(t, err)
			} else if id != "" {
				// An upload refused after it started is gone entirely, its id with it.
				_, err := r.client.QueryUpload(admin, &vodv1.QueryUploadRequest{UploadId: id})
				require.Equal(t, codes.NotFound, status.Code(err), "%v", err)
			}
			require.Eventually(t, func() bool {
				return slices.Equal(videos, videoIDs(t, r)) && slices.Equal(multiparts, openMultiparts(t, r))
			}, 2*time.Second, 20*time.Millisecond, "something of the refused call was kept: videos %v (before: %v), multipart uploads %v (before: %v)",
				videoIDs(t, r), videos, openMultiparts(t, r), multiparts)
			require.Equal(t, objects, localObjects(t, r, "vod/"))
		})
	}
	require.Equal(t, baseVideos, videoIDs(t, r))
	require.Equal(t, baseMultiparts, openMultiparts(t, r))
	require.Empty(t, localObjects(t, r, "vod/"))

	// Alice's upload went through all of it untouched, and the admin may still continue it.
	v, err := r.client.GetVideo(admin, &vodv1.GetVideoRequest{Id: aliceUpload})
	require.NoError(t, err)
	require.Equal(t, "alice", v.Owner)
	require.Equal(t, "alice", v.Title)
	require.Equal(t, vodv1.Status_STATUS_UPLOADING, v.Status)

	// Quota: exactly what is left fits.
	_, id, err := upload(t, as(context.Background(), alice), r, newUpload(quota-1000), nil, 1)
	require.NoError(t, err)
	require.NotEmpty(t, id)
}

// TestOtherUploadsCarryOn: while one upload is under way, two others on their own streams are refused
// mid-way (a text file at the sniff, a checksum mismatch at the end); the first completes with its bytes
// intact, and nothing of the refused ones is kept.
func TestOtherUploadsCarryOn(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	r := startVOD(t)
	ctx := as(context.Background(), adminToken)
	data := readFile(t, clip(t, 3, 14))
	require.Greater(t, len(data), 6<<20, "the clip spans more than one 5 MiB part")

	good, err := r.client.Upload(ctx)
	require.NoError(t, err)
	half := 11 << 19 // 5.5 MiB: one part committed before the others start
	require.NoError(t, send(t, good, &vodv1.UploadStart{FileName: "good.mp4", Size: int64(len(data)), Sha256: sha(data)}, data[:half], 256<<10))
	hdr, err := good.Header()
	require.NoError(t, err)
	goodID := first(hdr, service.HeaderUploadID)
	require.Eventually(t, func() bool {
		st, err := r.client.QueryUpload(ctx, &vodv1.QueryUploadRequest{UploadId: goodID})
		require.NoError(t, err)
		return st.CommittedSize == 5<<20
	}, 10*time.Second, 20*time.Millisecond)

	text := bytes.Repeat([]byte("hello world\n"), 100_000)
	_, textID, err := upload(t, ctx, r, &vodv1.UploadStart{FileName: "notes.txt", Size: int64(len(text))}, text, 64<<10)
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "not a video")
	require.NotEmpty(t, textID)

	wrong := sha([]byte("something else"))
	_, badID, err := upload(t, ctx, r, &vodv1.UploadStart{FileName: "bad.mp4", Size: int64(len(data)), Sha256: wrong}, data, 1<<20)
	require.Equal(t, codes.DataLoss, status.Code(err), "%v", err)
	require.NotEmpty(t, badID)

	for off := half; off < len(data); off += 256 << 10 {
		require.NoError(t, good.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: data[off:min(off+256<<10, len(data))]}}))
	}
	res, err := good.CloseAndRecv()
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Equal(t, sha(data), res.Video.Sha256)

	require.Equal(t, []string{goodID}, videoIDs(t, r))
	for _, id := range []string{textID, badID} {
		_, err := r.client.GetVideo(ctx, &vodv1.GetVideoRequest{Id: id})
		require.Equal(t, codes.NotFound, status.Code(err))
	}
	require.Equal(t, []string{"vod/" + goodID + "/source"}, localObjects(t, r, "vod/"))
	require.Empty(t, openMultiparts(t, r))
}

// TestCorruptVideosFail: files that pass the upload's sniff but are not whole videos are uploaded
// completely and then fail in processing with a reason; none is ever READY.
func TestCorruptVideosFail(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	r := startVOD(t)
	ctx := as(context.Background(), adminToken)
	indexFirst := smallClip(t, "3", "-movflags", "+faststart")
	indexLast := smallClip(t, "3")
	require.Less(t, bytes.Index(indexFirst, []byte("moov")), bytes.Index(indexFirst, []byte("mdat")))
	require.Greater(t, bytes.Index(indexLast, []byte("moov")), bytes.Index(indexLast, []byte("mdat")), "ffmpeg writes the index last by default")

	audio := filepath.Join(t.TempDir(), "tone.m4a")
	out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "3", "-c:a", "aac", audio).CombinedOutput()
	require.NoError(t, err, "%s", out)

	zeroMiddle := bytes.Clone(indexFirst)
	clear(zeroMiddle[len(zeroMiddle)*3/10 : len(zeroMiddle)*7/10])

	tests := []struct {
		name string
		data []byte
		msg  string
	}{
		// ffprobe reads the index and says 3 s; ffmpeg runs out of data at 60 %.
		{"truncated to 60 %, index first", indexFirst[:len(indexFirst)*6/10], "transcoding ended early"},
		// the index went with the cut: ffprobe cannot read it at all
		{"truncated to 60 %, index last", indexLast[:len(indexLast)*6/10], "not a video"},
		{"audio only", readFile(t, audio), "not a video: no video stream"},
		// the decoder finds nothing to decode in the zeroed samples: the renditions stop short
		{"middle 40 % zeroed", zeroMiddle, "transcoding ended early"},
	}
	ids := make([]string, len(tests))
	for i, tt := range tests {
		res, id, err := upload(t, ctx, r, &vodv1.UploadStart{Title: tt.name, FileName: "f.mp4", Size: int64(len(tt.data)), Sha256: sha(tt.data)}, tt.data, 256<<10)
		require.NoError(t, err, tt.name)
		require.True(t, res.Complete, tt.name)
		ids[i] = id
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := waitFinal(t, r, ids[i], 60*time.Second)
			require.Equal(t, vodv1.Status_STATUS_FAILED, v.Status, "a corrupt file is never READY")
			require.NotEmpty(t, v.Failure)
			require.Contains(t, v.Failure, tt.msg)
			require.False(t, v.HasMp4)
			_, err := r.client.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: ids[i]})
			require.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)
		})
	}
}
