package loadtest

import (
	"os"
	"testing"
)

// BenchmarkParseMedia parses a real node's LL-HLS playlist as a player does on every blocking reload
// (into the memory of the playlist it replaces), and as the plain reference parser did.
func BenchmarkParseMedia(b *testing.B) {
	raw, err := os.ReadFile("testdata/lowlatency.m3u8")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("player", func(b *testing.B) {
		b.ReportAllocs()
		var r reloadParser
		var pl *mediaPlaylist
		for b.Loop() {
			fresh, err := r.parse(raw, pl)
			if err != nil {
				b.Fatal(err)
			}
			pl = fresh
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseMediaReference(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
