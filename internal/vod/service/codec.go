package service

import (
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// Codec is the VOD server's gRPC codec: protobuf, except that an upload's chunk messages are decoded
// into pooled buffers that the Upload handler gives back once it has copied the bytes into a part.
// protobuf would allocate a new slice for every chunk; at 1 MiB a chunk and ~200 MB/s, that garbage alone
// made the Go heap (and the process's memory) grow by tens of MiB during an upload.
var Codec encoding.CodecV2 = chunkCodec{encoding.GetCodecV2(proto.Name)}

type chunkCodec struct{ encoding.CodecV2 }

// chunkBufSize holds any message the server accepts (grpc.MaxRecvMsgSize is MaxChunk + MaxMessageOverhead).
const (
	MaxMessageOverhead = 64 << 10
	chunkBufSize       = MaxChunk + MaxMessageOverhead
)

var chunkBufs = sync.Pool{New: func() any { b := make([]byte, 0, chunkBufSize); return &b }}

// Unmarshal decodes a message that is exactly one chunk (field 2 of UploadRequest, as the generated code
// writes it) into a pooled buffer; everything else goes to protobuf.
func (c chunkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	req, ok := v.(*vodv1.UploadRequest)
	n := data.Len()
	if !ok || n > chunkBufSize {
		return c.CodecV2.Unmarshal(data, v)
	}
	bp := chunkBufs.Get().(*[]byte)
	b := (*bp)[:n]
	data.CopyTo(b)
	chunk, ok := parseChunk(b)
	if !ok {
		chunkBufs.Put(bp)
		return c.CodecV2.Unmarshal(data, v)
	}
	// move the payload to the buffer's start, so the handler can give the buffer back from the chunk alone
	m := copy(b, chunk)
	req.Reset()
	req.Data = &vodv1.UploadRequest_Chunk{Chunk: b[:m:chunkBufSize]}
	*bp = nil
	return nil
}

// parseChunk returns the payload of a message made of one field 2 of wire type bytes, and nothing else.
func parseChunk(b []byte) ([]byte, bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != 2 || typ != protowire.BytesType {
		return nil, false
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return nil, false
	}
	return v, true
}

// releaseChunk gives a chunk's buffer back to the pool once its bytes are copied. Only chunks the codec
// made (their capacity is the pool's size) go back; others are left to the collector.
func releaseChunk(chunk []byte) {
	if cap(chunk) != chunkBufSize {
		return
	}
	b := chunk[:0]
	chunkBufs.Put(&b)
}
