// Package native plays an origin's live streams with real players from Debian — VLC, GStreamer's playbin
// and playbin3, ffprobe — opened just after the publisher starts and on a stream live for 30 s, and checks
// that each shows frames soon and reports no error (issue 11).
package native
