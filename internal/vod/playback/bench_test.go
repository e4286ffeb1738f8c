package playback

import (
	"fmt"
	"io"
	"net/http"
	"testing"
)

// BenchmarkRange1MiB measures a 1 MiB range of the MP4 over HTTP: Head, one ranged Get, the copy.
func BenchmarkRange1MiB(b *testing.B) {
	f := newFixture(b)
	const n = 1 << 20
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(client.CloseIdleConnections)
	b.SetBytes(n)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		start := (i * 4099) % (mp4Size - n)
		i++
		req, err := http.NewRequest(http.MethodGet, f.url+"/vod/pub1.mp4", nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, start+n-1))
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		got, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || got != n || res.StatusCode != http.StatusPartialContent {
			b.Fatalf("status %d, %d bytes, %v", res.StatusCode, got, err)
		}
		f.objs.take()
	}
}
