package library

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestVideoJSON pins the JSON of a video as the console and the public site read it (docs/web.md).
func TestVideoJSON(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 12, 4, 22, 10, 0, 0, time.UTC))
	v := &vodv1.Video{Id: "v_abc", Owner: "alice", Title: "<img src=x onerror=alert(1)>", Description: "Opening talk",
		Visibility: vodv1.Visibility_VISIBILITY_PRIVATE, Status: vodv1.Status_STATUS_READY, Progress: 100,
		Source: vodv1.Source_SOURCE_RECORDING, FileName: "keynote.mp4", Size: 1234567, Sha256: "00ff", DurationSeconds: 63.2,
		Width: 1280, Height: 720, VideoCodec: "avc1.64001f", HasMp4: true, CreatedAt: at, UpdatedAt: at, Stream: "live/stream1"}
	p := &vodv1.Playback{Hls: "http://vod/vod/v_abc/index.m3u8?exp=1&sig=s", Mp4: "http://vod/vod/v_abc.mp4?exp=1&sig=s",
		Poster: "http://vod/vod/v_abc/poster.jpg?exp=1&sig=s", Storyboard: "http://vod/vod/v_abc/storyboard.vtt?exp=1&sig=s",
		ExpiresAt: timestamppb.New(time.Date(2026, 12, 5, 4, 10, 0, 0, time.UTC))}
	uploading := &vodv1.Video{Id: "v_new", Title: "new", Status: vodv1.Status_STATUS_UPLOADING, FileName: "new.mov", CreatedAt: at}
	for _, tc := range []struct {
		file string
		v    any
	}{
		{"video_console.json", toVideoJSON(v, p)},
		{"video_console_uploading.json", toVideoJSON(uploading, nil)},
		{"video_public.json", toPublicVideoJSON(v, p)},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := json.MarshalIndent(tc.v, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.file)
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestVideoJSON -update to create it")
			require.Equal(t, string(want), string(got))
		})
	}
}

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{status.Error(codes.InvalidArgument, "x"), http.StatusBadRequest},
		{status.Error(codes.NotFound, "x"), http.StatusNotFound},
		{status.Error(codes.FailedPrecondition, "x"), http.StatusConflict},
		{status.Error(codes.Aborted, "x"), http.StatusConflict},
		{status.Error(codes.PermissionDenied, "x"), http.StatusForbidden},
		{status.Error(codes.ResourceExhausted, "x"), http.StatusRequestEntityTooLarge},
		{status.Error(codes.Unavailable, "x"), http.StatusServiceUnavailable},
		{status.Error(codes.DeadlineExceeded, "x"), http.StatusGatewayTimeout},
		{status.Error(codes.Unauthenticated, "x"), http.StatusBadGateway},
		{status.Error(codes.Internal, "x"), http.StatusInternalServerError},
		{failf(http.StatusLocked, "busy"), http.StatusLocked},
		{errors.New("plain"), http.StatusInternalServerError},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			code, msg := statusOf(tc.err)
			require.Equal(t, tc.code, code)
			require.NotEmpty(t, msg)
		})
	}
}

func TestShare(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1_800_000_000, 0)
	s := &Site{secret: secret}
	q := ShareQuery(secret, "v1", time.Hour, now)
	require.Equal(t, strconv.FormatInt(now.Add(time.Hour).Unix(), 10), q.Get("exp"))

	exp, ok := s.shared("v1", q, now)
	require.True(t, ok)
	require.Equal(t, now.Add(time.Hour), exp)
	_, ok = s.shared("v1", q, now.Add(time.Hour))
	require.False(t, ok, "expired")
	_, ok = s.shared("v2", q, now)
	require.False(t, ok, "another video's link")

	for name, mutate := range map[string]func(url.Values){
		"later exp":   func(q url.Values) { q.Set("exp", strconv.FormatInt(now.Add(48*time.Hour).Unix(), 10)) },
		"no sig":      func(q url.Values) { q.Del("sig") },
		"padded sig":  func(q url.Values) { q.Set("sig", q.Get("sig")+"=") },
		"std base64":  func(q url.Values) { q.Set("sig", q.Get("sig")[:10]+"+/"+q.Get("sig")[12:]) },
		"short sig":   func(q url.Values) { q.Set("sig", q.Get("sig")[:20]) },
		"exp not int": func(q url.Values) { q.Set("exp", "soon") },
	} {
		t.Run(name, func(t *testing.T) {
			bad := ShareQuery(secret, "v1", time.Hour, now)
			mutate(bad)
			_, ok := s.shared("v1", bad, now)
			require.False(t, ok)
		})
	}

	// without a secret nothing is shared, not even what an empty key signs
	empty := &Site{}
	_, ok = empty.shared("v1", ShareQuery(nil, "v1", time.Hour, now), now)
	require.False(t, ok)
}

func TestCursor(t *testing.T) {
	c := cursor{Token: "abc", Skip: 7}
	back, ok := decodeCursor(c.encode())
	require.True(t, ok)
	require.Equal(t, c, back)
	for _, bad := range []string{"!!", "bm90IGpzb24", cursor{Skip: -1}.encode(), cursor{Skip: scanPage}.encode()} {
		_, ok := decodeCursor(bad)
		require.False(t, ok, bad)
	}
}

// TestAdminRoutes checks what is answered without the VOD service: every request is authorized first,
// tus answers carry Tus-Resumable, and unknown paths and methods answer JSON.
func TestAdminRoutes(t *testing.T) {
	var asked []string
	auth := AuthorizerFunc(func(w http.ResponseWriter, r *http.Request) bool {
		asked = append(asked, r.Method+" "+r.URL.Path)
		if r.Header.Get("X-Deny") != "" {
			w.WriteHeader(http.StatusForbidden)
			return false
		}
		return true
	})
	a := NewAdmin(nil, "tok", auth, slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		method, path string
		deny         bool
		code         int
		tus          bool
	}{
		{http.MethodGet, "/api/v1/vod/nothing", false, http.StatusNotFound, false},
		{http.MethodGet, "/api/v1/vod/nothing", true, http.StatusForbidden, false},
		{http.MethodPost, "/api/v1/vod/videos", false, http.StatusMethodNotAllowed, false},
		{http.MethodPut, "/api/v1/vod/videos/v1", false, http.StatusMethodNotAllowed, false},
		{http.MethodGet, "/api/v1/vod/uploads/u1", false, http.StatusMethodNotAllowed, true},
		{http.MethodPatch, "/api/v1/vod/uploads/u1", true, http.StatusForbidden, true},
		{http.MethodPatch, "/api/v1/vod/uploads/u1", false, http.StatusPreconditionFailed, true}, // no Tus-Resumable
		{http.MethodOptions, "/api/v1/vod/uploads", false, http.StatusNoContent, true},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			asked = nil
			r := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.deny {
				r.Header.Set("X-Deny", "1")
			}
			w := httptest.NewRecorder()
			a.ServeHTTP(w, r)
			require.Equal(t, tc.code, w.Code, w.Body.String())
			require.Equal(t, []string{tc.method + " " + tc.path}, asked)
			if tc.tus {
				require.Equal(t, tusVersion, w.Header().Get("Tus-Resumable"))
			} else {
				require.Empty(t, w.Header().Get("Tus-Resumable"))
			}
			if tc.code >= 400 && !tc.deny {
				var body errorBody
				require.NoError(t, json.NewDecoder(w.Body).Decode(&body))
				require.NotEmpty(t, body.Error)
			}
		})
	}
}

// TestFill: a chunk is filled from a body that arrives a byte at a time.
func TestFill(t *testing.T) {
	buf := make([]byte, 10)
	n, err := fill(io.MultiReader(iotest("abc"), iotest("defghijkl")), buf)
	require.NoError(t, err)
	require.Equal(t, 10, n)
	n, err = fill(iotest("xy"), buf)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, 2, n)
}

func iotest(s string) io.Reader { return &oneByOne{s: s} }

// oneByOne reads a byte at a time, as a slow body does.
type oneByOne struct{ s string }

func (o *oneByOne) Read(p []byte) (int, error) {
	if o.s == "" {
		return 0, io.EOF
	}
	p[0], o.s = o.s[0], o.s[1:]
	return 1, nil
}
