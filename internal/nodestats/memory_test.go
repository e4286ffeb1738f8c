package nodestats

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const meminfo = "MemTotal:        4000000 kB\nMemFree:          100000 kB\nMemAvailable:    3000000 kB\nBuffers: 1 kB\n"

func TestMemoryUsedPercent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		meminfo string
		cgroup  string            // /proc/self/cgroup
		files   map[string]string // under the cgroup root
		want    float64
		err     bool
	}{
		{name: "machine", meminfo: meminfo, cgroup: "0::/\n", want: 25},
		{name: "cgroup v2 without a limit", meminfo: meminfo, cgroup: "0::/\n",
			files: map[string]string{"memory.max": "max\n", "memory.current": "1000\n"}, want: 25},
		{name: "cgroup v2 limit, inactive page cache left out", meminfo: meminfo, cgroup: "0::/\n",
			files: map[string]string{"memory.max": "1073741824\n", "memory.current": "805306368\n",
				"memory.stat": "anon 1\nfile 268435456\ninactive_file 268435456\n"}, want: 50},
		{name: "cgroup v2 nested", meminfo: meminfo, cgroup: "0::/pods/nagare\n",
			files: map[string]string{"pods/nagare/memory.max": "1073741824\n", "pods/nagare/memory.current": "268435456\n"}, want: 25},
		{name: "cgroup v2 limit above the machine's memory", meminfo: meminfo, cgroup: "0::/\n",
			files: map[string]string{"memory.max": "99999999999999\n", "memory.current": "1\n"}, want: 25},
		{name: "cgroup v2 over its limit", meminfo: meminfo, cgroup: "0::/\n",
			files: map[string]string{"memory.max": "1000\n", "memory.current": "2000\n"}, want: 100},
		{name: "cgroup v1 limit", meminfo: meminfo, cgroup: "4:memory:/docker/x\n0::/\n",
			files: map[string]string{"memory/docker/x/memory.limit_in_bytes": "2147483648\n",
				"memory/docker/x/memory.usage_in_bytes": "1073741824\n"}, want: 50},
		{name: "cgroup v1 unlimited", meminfo: meminfo, cgroup: "4:memory:/\n",
			files: map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n", "memory/memory.usage_in_bytes": "1"}, want: 25},
		{name: "no meminfo", err: true},
		{name: "meminfo without MemAvailable", meminfo: "MemTotal: 100 kB\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mi := filepath.Join(dir, "meminfo")
			if tc.meminfo != "" {
				require.NoError(t, os.WriteFile(mi, []byte(tc.meminfo), 0o644))
			}
			self := filepath.Join(dir, "self-cgroup")
			require.NoError(t, os.WriteFile(self, []byte(tc.cgroup), 0o644))
			root := filepath.Join(dir, "cgroup")
			for name, body := range tc.files {
				p := filepath.Join(root, name)
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
			}
			got, err := memoryUsedPercent(mi, self, root)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.InDelta(t, tc.want, got, 0.01)
		})
	}
}

// TestMemoryUsedPercentHere reads this machine: some memory is in use, never more than all of it.
func TestMemoryUsedPercentHere(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		t.Skip("no /proc/meminfo")
	}
	p, err := MemoryUsedPercent()
	require.NoError(t, err)
	require.Greater(t, p, 0.0)
	require.LessOrEqual(t, p, 100.0)
}
