package viewers

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// newIDWithLetter returns a session id with at least one hex letter in it.
func newIDWithLetter(t *testing.T, ss *Sessions) string {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if id := ss.NewID(); strings.ContainsAny(id, "abcdef") {
			return id
		}
	}
	t.Fatal("1000 session ids without a hex letter")
	return ""
}

func TestSessionIDs(t *testing.T) {
	var ss Sessions
	id := ss.NewID()
	require.Len(t, id, 24)
	require.True(t, ss.Valid(id))
	require.NotEqual(t, id, ss.NewID(), "ids are random")

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	var other Sessions
	for _, tc := range []struct{ name, id string }{
		{"random part tampered", flip(id, 0)},
		{"mac tampered", flip(id, 23)},
		{"truncated", id[:22]},
		{"extended", id + "00"},
		{"empty", ""},
		{"not hex", "zz" + id[2:]},
		{"all zero", strings.Repeat("0", 24)},
		{"id of another node", other.NewID()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.False(t, ss.Valid(tc.id))
		})
	}
}

func TestSessionsCount(t *testing.T) {
	a := stream.Path{App: "live", Name: "a"}
	b := stream.Path{App: "live", Name: "b"}
	var ss Sessions
	require.Equal(t, 0, ss.Count(nil, time.Hour))

	id1, id2, id3 := ss.NewID(), ss.NewID(), ss.NewID()
	ss.Touch(id1, a)
	ss.Touch(id1, a) // the same viewer again
	ss.Touch(id2, a)
	ss.Touch(id3, b)
	ss.Touch("forged00000000000000000", a)
	ss.Touch(strings.Repeat("0", 24), a)
	ss.Touch(flipLast(id1), a)
	require.Equal(t, 3, ss.Count(nil, time.Hour))
	require.Equal(t, 2, ss.Count(&a, time.Hour))
	require.Equal(t, 1, ss.Count(&b, time.Hour))

	// A viewer that moves to another stream counts there only.
	ss.Touch(id2, b)
	require.Equal(t, 1, ss.Count(&a, time.Hour))
	require.Equal(t, 2, ss.Count(&b, time.Hour))
	require.Equal(t, map[stream.Path]int{a: 1, b: 2}, ss.CountByStream(time.Hour), "every stream's count in one pass")

	ss.DropStream(b)
	require.Equal(t, 1, ss.Count(nil, time.Hour))

	// Entries older than the timeout are forgotten, not just left out of the count.
	time.Sleep(30 * time.Millisecond)
	require.Equal(t, 0, ss.Count(nil, 10*time.Millisecond))
	require.Equal(t, 0, ss.Count(nil, time.Hour))
	require.Empty(t, ss.CountByStream(time.Hour))
}

func flipLast(id string) string {
	if strings.HasSuffix(id, "0") {
		return id[:len(id)-1] + "1"
	}
	return id[:len(id)-1] + "0"
}

// hex.DecodeString accepts upper case too: unless valid() insists on the lower-case spelling the server
// hands out, one real id has up to 2^24 spellings that each count as a viewer.
func TestSessionsCaseVariantOfIDIsNotANewViewer(t *testing.T) {
	a := stream.Path{App: "live", Name: "a"}
	var ss Sessions
	id := newIDWithLetter(t, &ss)
	ss.Touch(id, a)
	ss.Touch(strings.ToUpper(id), a)
	require.Equal(t, 1, ss.Count(&a, time.Hour), "a case variant of a session id counted as another viewer")
}

// TestClusterKey: the edges of a cluster accept each other's session ids (a player steered from one to
// another keeps its URLs), other clusters' and made-up ones are refused.
func TestClusterKey(t *testing.T) {
	a := &Sessions{Key: ClusterKey("cluster-secret-0123456789")}
	b := &Sessions{Key: ClusterKey("cluster-secret-0123456789")}
	other := &Sessions{Key: ClusterKey("another-secret-0123456789")}
	own := &Sessions{}
	id := a.NewID()
	require.True(t, b.Valid(id), "an edge of the same cluster")
	require.False(t, other.Valid(id), "an edge of another cluster")
	require.False(t, own.Valid(id), "a node with its own random key")
	p := stream.Path{App: "live", Name: "s"}
	b.Touch(id, p)
	require.Equal(t, 1, b.Count(&p, time.Minute))
}
