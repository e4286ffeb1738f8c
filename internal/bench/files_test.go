package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestKeptFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.ts"), make([]byte, 1000), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "b.ts"), make([]byte, 24), 0o644))
	require.NoError(t, os.Link(filepath.Join(dir, "a.ts"), filepath.Join(dir, "sub", "a-again.ts")))

	k := keptFiles(os.Getpid(), []string{dir, filepath.Join(dir, "sub")})
	require.Equal(t, int64(1024), k.DirBytes, "every file once, hard links and nested directories included")
	require.Equal(t, 2, k.DirFiles)

	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		f, err := os.CreateTemp("/dev/shm", "nagare-bench-test-")
		require.NoError(t, err)
		defer os.Remove(f.Name())
		defer f.Close()
		_, err = f.Write(make([]byte, 4096))
		require.NoError(t, err)
		k = keptFiles(os.Getpid(), nil)
		require.GreaterOrEqual(t, k.ShmBytes, int64(4096), "the open /dev/shm file is counted")
		require.GreaterOrEqual(t, k.ShmFiles, 1)
	}
}

func TestKeptFilesBytes(t *testing.T) {
	require.Equal(t, int64(150), KeptFiles{DirBytes: 100, ShmBytes: 80, ShmRSSBytes: 30}.Bytes(),
		"shared memory already in the RSS is not counted twice")
	require.Equal(t, int64(100), KeptFiles{DirBytes: 100, ShmBytes: 0, ShmRSSBytes: 30}.Bytes(),
		"other shared memory in the RSS is left alone")
}

func TestParsePhaseTimes(t *testing.T) {
	got := parsePhaseTimes("latency 75\nfanout 130\nbroken\ningest x\n")
	require.Equal(t, []PhaseTime{{"latency", 75 * time.Second}, {"fanout", 130 * time.Second}}, got)
}
