package service

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/testutil/fftest"
)

// isTS is the MPEG-TS rule, written out on its own: a whole packet, and the sync byte at the start of each
// of the first three packets there are (each of n bytes; the first at off).
func isTS(b []byte, off, n int) bool {
	if len(b) < off+188 {
		return false
	}
	for k := range 3 {
		if i := off + k*n; i < len(b) && b[i] != 0x47 {
			return false
		}
	}
	return true
}

// FuzzContainerOf: the sniff of an upload's first bytes never panics, accepts exactly what it names a
// container, names one only on that container's signature, and gives the same verdict whatever the client's
// chunking (the service sniffs a buffer of sniffLen bytes or more).
func FuzzContainerOf(f *testing.F) {
	for _, s := range []string{"", "G", "GET / HTTP/1.1\r\n", "\x00\x00\x00\x18ftypmp42", "OggS", "RIFF\x00\x00\x00\x00AVI LIST"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kind := containerOf(b)
		err := sniff(b)
		if kind == "" {
			require.ErrorIs(t, err, errNotVideo)
		} else {
			require.NoError(t, err)
		}
		at := func(off int, sig string) bool { return bytes.HasPrefix(b[min(off, len(b)):], []byte(sig)) }
		switch kind {
		case "":
		case "mp4":
			require.True(t, at(4, "ftyp") || at(4, "moov") || at(4, "mdat") || at(4, "free") || at(4, "wide") || at(4, "skip"))
		case "matroska":
			require.True(t, at(0, "\x1a\x45\xdf\xa3"))
		case "flv":
			require.True(t, at(0, "FLV\x01"))
		case "avi":
			require.True(t, at(0, "RIFF") && at(8, "AVI "))
		case "ogg":
			require.True(t, at(0, "OggS"))
		case "mpeg-ps":
			require.True(t, at(0, "\x00\x00\x01\xba"))
		case "mpeg-ts":
			require.True(t, isTS(b, 0, 188) || isTS(b, 4, 192), "%q", b[:min(len(b), 16)])
		default:
			t.Fatalf("unknown container %q", kind)
		}
		if len(b) >= sniffLen {
			require.Equal(t, kind, containerOf(b[:sniffLen]), "the verdict depends on bytes past the sniffed head")
		}
	})
}

// TestContainerOfRealFiles: the files ffmpeg writes in every container the service accepts are accepted
// as that container; common files that are not videos are refused.
func TestContainerOfRealFiles(t *testing.T) {
	fftest.Require(t)
	dir := t.TempDir()
	for _, tt := range []struct {
		name, kind string
		args       []string
	}{
		{"MP4", "mp4", []string{"-c:v", "libx264", "-f", "mp4"}},
		{"MP4 faststart", "mp4", []string{"-c:v", "libx264", "-movflags", "+faststart", "-f", "mp4"}},
		{"MOV", "mp4", []string{"-c:v", "libx264", "-f", "mov"}},
		{"M4V", "mp4", []string{"-c:v", "libx264", "-f", "ipod"}},
		{"Matroska", "matroska", []string{"-c:v", "libx264", "-f", "matroska"}},
		{"WebM", "matroska", []string{"-c:v", "libvpx", "-f", "webm"}},
		{"MPEG-TS", "mpeg-ts", []string{"-c:v", "libx264", "-f", "mpegts"}},
		{"M2TS", "mpeg-ts", []string{"-c:v", "libx264", "-f", "mpegts", "-mpegts_m2ts_mode", "1"}},
		{"MPEG-PS", "mpeg-ps", []string{"-c:v", "mpeg2video", "-f", "vob"}},
		{"FLV", "flv", []string{"-c:v", "libx264", "-f", "flv"}},
		{"AVI", "avi", []string{"-c:v", "mpeg4", "-f", "avi"}},
		{"Ogg", "ogg", []string{"-c:v", "libtheora", "-f", "ogg"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			args := append([]string{"-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "0.5"}, tt.args...)
			b, err := exec.Command("ffmpeg", append(args, out)...).CombinedOutput()
			require.NoError(t, err, "%s", b)
			data, err := os.ReadFile(out)
			require.NoError(t, err)
			require.Equal(t, tt.kind, containerOf(data))
			require.Equal(t, tt.kind, containerOf(data[:min(len(data), sniffLen)]))
		})
	}
	for name, data := range map[string][]byte{
		"text":        bytes.Repeat([]byte("hello world\n"), 1000),
		"short text":  []byte("Good morning\n"),
		"HTTP":        []byte("GET /video.mp4 HTTP/1.1\r\nHost: example.org\r\n\r\n"),
		"PNG":         []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00"),
		"JPEG":        []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
		"PDF":         []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"),
		"ZIP":         []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"),
		"WAV":         []byte("RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00"),
		"empty":       nil,
		"zeros":       make([]byte, sniffLen),
		"one G":       []byte("G"),
		"long G text": bytes.Repeat([]byte("Good morning\n"), 100),
	} {
		require.Empty(t, containerOf(data), name)
		require.ErrorIs(t, sniff(data), errNotVideo, name)
	}
}

// FuzzDecodePageToken: a page token from a client never panics the service and, when accepted, names a
// valid id and comes back the same through encodePageToken.
func FuzzDecodePageToken(f *testing.F) {
	f.Add(encodePageToken(time.UnixMilli(1_700_000_000_123), "AAAAAAAAAAAAAAAA"))
	f.Add(encodePageToken(time.UnixMilli(0), "rec-abc_DEF"))
	f.Add("")
	f.Add("garbage!")
	f.Add("MTcwMDAwMDAwMDAwMDouLi94") // "1700000000000:../x"
	f.Fuzz(func(t *testing.T, tok string) {
		at, id, err := decodePageToken(tok)
		if err != nil {
			return
		}
		require.True(t, ValidID(id), "%q", id)
		require.True(t, objstore.ValidKey("vod/"+id+"/source"), "%q", id)
		at2, id2, err := decodePageToken(encodePageToken(at, id))
		require.NoError(t, err)
		require.Equal(t, id, id2)
		require.True(t, at.Equal(at2), "%s != %s", at, at2)
	})
}

// FuzzPageTokenRoundTrip: every token the service makes is accepted back, naming the same position.
func FuzzPageTokenRoundTrip(f *testing.F) {
	f.Add(int64(1_700_000_000_123), "AAAAAAAAAAAAAAAA")
	f.Add(int64(-1), "rec-x")
	f.Add(int64(0), "a:b")
	f.Fuzz(func(t *testing.T, ms int64, id string) {
		if !ValidID(id) {
			return
		}
		at, got, err := decodePageToken(encodePageToken(time.UnixMilli(ms), id))
		require.NoError(t, err)
		require.Equal(t, id, got)
		require.Equal(t, ms, at.UnixMilli())
	})
}

// The fuzz target's secret and admin token; the seed corpus holds tokens signed with this secret (expiring
// in 2100) and their mutations.
var (
	fuzzSecret = []byte("fuzz-secret-0123456789")
	fuzzAdmin  = "fuzz-admin-token-0123456789"
	fuzzExpiry = time.Unix(4102444800, 0) // 2100-01-01
)

// FuzzVerifyUploadToken: no token a client makes without the secret is accepted, however it is mangled:
// an accepted token names the owner and expiry of a token the test signed, an expiry to come and a valid
// owner; authenticate maps it to that owner, and only the admin token to the admin.
func FuzzVerifyUploadToken(f *testing.F) {
	signed := map[string]bool{} // "<owner>.<expiry>" the test signed
	for _, owner := range []string{"alice", "bob.smith", "a", strings.Repeat("o", MaxOwner)} {
		f.Add(SignUploadToken(fuzzSecret, owner, fuzzExpiry))
		signed[owner+"."+strconv.FormatInt(fuzzExpiry.Unix(), 10)] = true
	}
	f.Add(SignUploadToken(fuzzSecret, "alice", time.Unix(1_000_000_000, 0))) // expired
	f.Add(SignUploadToken([]byte("another-secret"), "alice", fuzzExpiry))
	f.Add(SignUploadToken(fuzzSecret, "../alice", fuzzExpiry)) // an owner that may not be
	f.Add(fuzzAdmin)
	f.Add("vod1....")
	f.Add("")
	s := New(Config{Secret: fuzzSecret, AdminToken: fuzzAdmin}, nil, nil, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, tok string) {
		owner, err := s.verifyUploadToken(tok)
		if err == nil {
			require.True(t, ValidOwner(owner), "%q", owner)
			parts := strings.Split(tok, ".")
			require.Len(t, parts, 4)
			require.Equal(t, owner, parts[1])
			require.True(t, signed[parts[1]+"."+parts[2]], "accepted a token the test never signed: %q", tok)
			exp, err := strconv.ParseInt(parts[2], 10, 64)
			require.NoError(t, err)
			require.Greater(t, exp, time.Now().Unix())
		}

		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
		p, aerr := s.authenticate(ctx)
		switch {
		case tok == fuzzAdmin:
			require.NoError(t, aerr)
			require.True(t, p.admin)
		case err == nil:
			require.NoError(t, aerr)
			require.Equal(t, principal{owner: owner}, p)
		default:
			require.Error(t, aerr)
			require.Equal(t, principal{}, p)
		}
	})
}
