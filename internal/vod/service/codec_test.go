package service

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	gproto "google.golang.org/protobuf/proto"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

func wire(t testing.TB, m gproto.Message) []byte {
	b, err := gproto.Marshal(m)
	require.NoError(t, err)
	return b
}

// TestChunkCodec: chunks are decoded into pooled buffers, everything else as protobuf would.
func TestChunkCodec(t *testing.T) {
	payload := bytes.Repeat([]byte{7, 1, 9}, 300_000)
	for _, c := range []struct {
		name   string
		msg    *vodv1.UploadRequest
		pooled bool
	}{
		{"chunk", &vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: payload}}, true},
		{"empty chunk", &vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: []byte{}}}, true},
		{"start", &vodv1.UploadRequest{Data: &vodv1.UploadRequest_Start{Start: &vodv1.UploadStart{Title: "x", Size: 3}}}, false},
		{"nothing", &vodv1.UploadRequest{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			// gRPC hands the codec a message split over several buffers
			b := wire(t, c.msg)
			half := len(b) / 2
			data := mem.BufferSlice{mem.SliceBuffer(b[:half]), mem.SliceBuffer(b[half:])}
			var got vodv1.UploadRequest
			require.NoError(t, Codec.Unmarshal(data, &got))
			require.True(t, gproto.Equal(c.msg, &got), "decoded %v", &got)
			if ch, ok := got.Data.(*vodv1.UploadRequest_Chunk); ok {
				require.Equal(t, c.pooled, cap(ch.Chunk) == chunkBufSize)
				releaseChunk(ch.Chunk)
			}
		})
	}
	// a chunk message with something else in it is protobuf's to decode (the last oneof field wins)
	mixed := append(wire(t, &vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: []byte("abc")}}),
		wire(t, &vodv1.UploadRequest{Data: &vodv1.UploadRequest_Start{Start: &vodv1.UploadStart{Size: 1}}})...)
	var got vodv1.UploadRequest
	require.NoError(t, Codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(mixed)}, &got))
	require.NotNil(t, got.GetStart())
}

// FuzzChunkCodec: on any bytes, the codec agrees with protobuf: both fail, or both decode the same message.
func FuzzChunkCodec(f *testing.F) {
	f.Add(wire(f, &vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: []byte("hello")}}))
	f.Add(wire(f, &vodv1.UploadRequest{Data: &vodv1.UploadRequest_Start{Start: &vodv1.UploadStart{UploadId: "abc", WriteOffset: 5}}}))
	f.Add([]byte{0x12, 0x80})
	f.Add([]byte{0x12, 0x03, 'a'})
	plain := encoding.GetCodecV2(proto.Name)
	f.Fuzz(func(t *testing.T, b []byte) {
		var ours, theirs vodv1.UploadRequest
		errOurs := Codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &ours)
		errTheirs := plain.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &theirs)
		require.Equal(t, errTheirs == nil, errOurs == nil, "ours: %v, protobuf: %v", errOurs, errTheirs)
		if errOurs == nil {
			require.True(t, gproto.Equal(&theirs, &ours), "ours %v, protobuf %v", &ours, &theirs)
		}
		if ch, ok := ours.Data.(*vodv1.UploadRequest_Chunk); ok {
			releaseChunk(ch.Chunk)
		}
	})
}
