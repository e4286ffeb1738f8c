package bench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1GiB", 1 << 30}, {"256MiB", 256 << 20}, {"64KiB", 64 << 10}, {"2G", 2 << 30}, {"5M", 5 << 20},
		{"1048576", 1 << 20}, {"100B", 100}, {" 3 GiB ", 3 << 30},
	} {
		got, err := parseSize(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
		if got%(1<<10) == 0 {
			back, err := parseSize(sizeName(got))
			require.NoError(t, err)
			require.Equal(t, got, back, "sizeName(%d) = %s", got, sizeName(got))
		}
	}
	for _, bad := range []string{"", "GiB", "1.5GiB", "-1MiB", "0", "1TiB", "99999999999GiB"} {
		_, err := parseSize(bad)
		require.Error(t, err, bad)
	}
}

func TestSpliceSection(t *testing.T) {
	const heading = "## 10. VOD"
	sec := heading + "\n\nnew figures\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"appended when absent", "# Report\n\n## 9. Glass\n\nold\n", "# Report\n\n## 9. Glass\n\nold\n\n" + sec},
		{"replaced at the end", "# R\n\n## 9. Glass\n\ng\n\n## 10. VOD\n\nold figures\n\n### sub\n\nmore\n",
			"# R\n\n## 9. Glass\n\ng\n\n" + sec},
		{"replaced before the next section", "# R\n\n## 10. VOD\n\nold\n\n## 11. Next\n\nn\n",
			"# R\n\n" + heading + "\n\nnew figures\n\n## 11. Next\n\nn\n"},
		{"a longer heading is another section", "# R\n\n## 10. VOD and more\n\nx\n", "# R\n\n## 10. VOD and more\n\nx\n\n" + sec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, string(spliceSection([]byte(tc.doc), []byte(sec), heading)))
		})
	}
}

// TestRangeScript runs wrk with the range script against a server that records the Range headers: every
// range is 1 MiB, aligned, within the file, and the ranges vary.
func TestRangeScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs wrk")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk not installed (scripts/deps.sh bench)")
	}
	const size = 5*vodRange + 1234
	var (
		mu     sync.Mutex
		ranges = map[string]int{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges[r.Header.Get("Range")]++
		mu.Unlock()
		w.WriteHeader(http.StatusPartialContent)
	}))
	defer srv.Close()
	script := filepath.Join(t.TempDir(), "ranges.lua")
	require.NoError(t, os.WriteFile(script, fmt.Appendf(nil, rangeScript, size, vodRange), 0o644))
	out, err := exec.Command("wrk", "-t2", "-c4", "-d1s", "-s", script, srv.URL+"/f.mp4").CombinedOutput()
	require.NoError(t, err, "%s", out)

	mu.Lock()
	defer mu.Unlock()
	re := regexp.MustCompile(`^bytes=(\d+)-(\d+)$`)
	starts := map[int64]bool{}
	for h := range ranges {
		m := re.FindStringSubmatch(h)
		require.NotNil(t, m, "Range %q", h)
		first, _ := strconv.ParseInt(m[1], 10, 64)
		last, _ := strconv.ParseInt(m[2], 10, 64)
		require.Zero(t, first%vodRange, h)
		require.Equal(t, int64(vodRange-1), last-first, h)
		require.Less(t, last, int64(size), h)
		starts[first] = true
	}
	require.Len(t, starts, 5, "every whole 1 MiB block of the file is asked for: %v", ranges)
}
