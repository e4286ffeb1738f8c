package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/transcode"
)

// TestOverloadCheck: the node says it is overloaded once two looks in a row find its transcoding behind
// (a slow rung, a rung far behind, source units dropped), and stops saying so at the first look that
// does not; a stopped job or a rung not measured yet is no cause.
func TestOverloadCheck(t *testing.T) {
	job := func(running bool, dropped uint64, rungs ...transcode.RungStats) []transcode.JobStats {
		return []transcode.JobStats{{Stream: "live/a", Running: running, Dropped: dropped, Rungs: rungs}}
	}
	fine := transcode.RungStats{Name: "360p", Speed: 1.0, Delay: 200 * time.Millisecond}
	slow := transcode.RungStats{Name: "360p", Speed: 0.62, Delay: time.Second}
	late := transcode.RungStats{Name: "360p", Speed: 0.95, Delay: 5 * time.Second}
	unmeasured := transcode.RungStats{Name: "360p"}
	for _, tc := range []struct {
		name  string
		looks [][]transcode.JobStats
		want  []string
	}{
		{"keeping up", [][]transcode.JobStats{job(true, 0, fine), job(true, 0, fine)}, []string{"", ""}},
		{"slow rung twice", [][]transcode.JobStats{job(true, 0, slow), job(true, 0, slow), job(true, 0, fine)},
			[]string{"", "live/a: rung 360p at 0.62× real time", ""}},
		{"a moment's dip", [][]transcode.JobStats{job(true, 0, slow), job(true, 0, fine), job(true, 0, slow)}, []string{"", "", ""}},
		{"far behind", [][]transcode.JobStats{job(true, 0, late), job(true, 0, late)}, []string{"", "live/a: rung 360p 5s behind its source"}},
		{"dropping source units", [][]transcode.JobStats{job(true, 3, fine), job(true, 9, fine), job(true, 20, fine)},
			[]string{"", "", "live/a: 11 source units dropped since the last report (ffmpeg does not keep up)"}},
		{"stopped or unmeasured", [][]transcode.JobStats{job(false, 0, slow), job(false, 0, slow), job(true, 0, unmeasured), job(true, 0, unmeasured)},
			[]string{"", "", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o overload
			for i, look := range tc.looks {
				require.Equal(t, tc.want[i], o.check(look), "look %d", i)
				require.Equal(t, tc.want[i], o.now())
			}
		})
	}
}
