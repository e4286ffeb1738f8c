package exepages

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadOnlyMapping(t *testing.T) {
	const exe = "/usr/bin/nagare"
	const spaced = "/opt/my apps/nagare"
	start, end, ok := readOnlyMapping("00400000-00401000 r-xp 00000000 08:01 9 "+spaced, spaced)
	assert.True(t, ok, "a path with a space")
	assert.Equal(t, uintptr(0x1000), end-start)
	for _, tc := range []struct {
		name       string
		line       string
		start, end uintptr
		ok         bool
	}{
		{"text", "00400000-02860000 r-xp 00000000 08:01 123 /usr/bin/nagare", 0x400000, 0x2860000, true},
		{"rodata", "02860000-05022000 r--p 02460000 08:01 123 /usr/bin/nagare", 0x2860000, 0x5022000, true},
		{"data: writable", "05022000-050f6000 rw-p 04c22000 08:01 123 /usr/bin/nagare", 0, 0, false},
		{"shared", "7f0000000000-7f0000001000 r--s 00000000 08:01 123 /usr/bin/nagare", 0, 0, false},
		{"another file", "00400000-02860000 r-xp 00000000 08:01 124 /usr/lib/libc.so.6", 0, 0, false},
		{"anonymous", "c000000000-c000400000 rw-p 00000000 00:00 0", 0, 0, false},
		{"replaced on disk", "00400000-02860000 r-xp 00000000 08:01 123 /usr/bin/nagare (deleted)", 0x400000, 0x2860000, true},
		{"a longer name", "00400000-02860000 r-xp 00000000 08:01 123 /usr/bin/nagare.old", 0, 0, false},
		{"bad range", "zz-02860000 r-xp 00000000 08:01 123 /usr/bin/nagare", 0, 0, false},
		{"empty range", "02860000-02860000 r-xp 00000000 08:01 123 /usr/bin/nagare", 0, 0, false},
		{"short", "00400000-02860000 r-xp", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, end, ok := readOnlyMapping(tc.line, exe)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.start, start)
			assert.Equal(t, tc.end, end)
		})
	}
}

// TestDrop unmaps the test binary's read-only pages: its file-backed RSS falls, and the process goes on
// running code and reading read-only data from the pages it unmapped.
func TestDrop(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self")
	}
	before := rssFile(t)
	advised, err := Drop()
	require.NoError(t, err)
	assert.Positive(t, advised, "no mapping of the executable was advised")
	after := rssFile(t)
	t.Logf("RssFile %d kB before, %d kB after; %d MiB advised", before, after, advised>>20)
	assert.Less(t, after, before, "the executable's pages stayed mapped")

	// code and read-only data come back from the page cache
	var b bytes.Buffer
	for i := range 1000 {
		b.WriteString(strconv.Itoa(i))
	}
	assert.Equal(t, 2890, b.Len())
	_, _, ok := readOnlyMapping("00400000-02860000 r-xp 00000000 08:01 1 /x", "/x")
	assert.True(t, ok)
}

// rssFile returns the process's file-backed resident memory in kB (RssFile in /proc/self/status).
func rssFile(t *testing.T) int {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("RssFile:")); ok {
			n, err := strconv.Atoi(string(bytes.Fields(v)[0]))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
