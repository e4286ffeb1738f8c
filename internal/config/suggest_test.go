package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUnknownSettingMessages pins what nagare says of a NAGARE_* variable or YAML key that is not a
// setting: still an error, naming the settings it was probably meant to be.
func TestUnknownSettingMessages(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		yaml    string
		want    string // the whole message (for YAML: the part after the file name)
	}{
		{name: "env: a letter missing", environ: []string{"NAGARE_HLS_SEGMENT_DURATON=2s"},
			want: "NAGARE_HLS_SEGMENT_DURATON: unknown setting; did you mean NAGARE_HLS_SEGMENT_DURATION (hls.segmentDuration)?"},
		{name: "env: two letters swapped", environ: []string{"NAGARE_MANAGER_ADRDESS=:5081"},
			want: "NAGARE_MANAGER_ADRDESS: unknown setting; did you mean NAGARE_MANAGER_ADDRESS (manager.address)?"},
		{name: "env: camel case run together", environ: []string{"NAGARE_PUBLISH_TOKENSECRET=x"},
			want: "NAGARE_PUBLISH_TOKENSECRET: unknown setting; did you mean NAGARE_PUBLISH_TOKEN_SECRET (publish.tokenSecret)?"},
		{name: "env: a section's word misspelt", environ: []string{"NAGARE_MANGER_STORE_DSN=x"},
			want: "NAGARE_MANGER_STORE_DSN: unknown setting; did you mean NAGARE_MANAGER_STORE_DSN (manager.storeDSN)?"},
		{name: "env: several near, closest first", environ: []string{"NAGARE_RTMP_ADDRES=x"},
			want: "NAGARE_RTMP_ADDRES: unknown setting; did you mean NAGARE_RTMP_ADDRESS (rtmp.address) or NAGARE_RTMPS_ADDRESS (rtmps.address)?"},
		{name: "env: a word nothing has, the settings sharing the words before it", environ: []string{"NAGARE_HLS_SEGMENT_LENGTH=2s"},
			want: "NAGARE_HLS_SEGMENT_LENGTH: unknown setting; did you mean NAGARE_HLS_SEGMENT_COUNT (hls.segmentCount) or NAGARE_HLS_SEGMENT_DURATION (hls.segmentDuration)?"},
		{name: "env: a section, its first settings", environ: []string{"NAGARE_LOG=debug"},
			want: "NAGARE_LOG: unknown setting; did you mean NAGARE_LOG_FORMAT (log.format) or NAGARE_LOG_LEVEL (log.level)?"},
		{name: "env: nothing like it", environ: []string{"NAGARE_QWERTYUIOP=1"},
			want: "NAGARE_QWERTYUIOP: unknown setting"},
		{name: "env: every unknown variable, in order", environ: []string{"NAGARE_ZZZZZZZZ=1", "NAGARE_LOG_LEVLE=info"},
			want: "NAGARE_LOG_LEVLE: unknown setting; did you mean NAGARE_LOG_LEVEL (log.level)?\nNAGARE_ZZZZZZZZ: unknown setting"},

		{name: "yaml: a letter too many", yaml: "hls:\n  segmentDurationn: 2s\n",
			want: "yaml: unmarshal errors:\n  line 2: field segmentDurationn not found in type config.HLS; did you mean segmentDuration?"},
		{name: "yaml: a section misspelt", yaml: "hsl:\n  variant: fmp4\n",
			want: "yaml: unmarshal errors:\n  line 1: field hsl not found in type config.Config; did you mean hls?"},
		{name: "yaml: case", yaml: "manager:\n  storeDsn: x\n",
			want: "yaml: unmarshal errors:\n  line 2: field storeDsn not found in type config.Manager; did you mean storeDSN?"},
		{name: "yaml: a nested section", yaml: "manager:\n  autoscale:\n    coolDwon: 1m\n",
			want: "yaml: unmarshal errors:\n  line 3: field coolDwon not found in type config.Autoscale; did you mean coolDown?"},
		{name: "yaml: nothing like it", yaml: "hls:\n  qwertyuiop: 1\n",
			want: "yaml: unmarshal errors:\n  line 2: field qwertyuiop not found in type config.HLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.yaml != "" {
				p := writeFile(t, tc.yaml)
				_, err := Load(p, nil)
				require.EqualError(t, err, "config file "+p+": "+tc.want)
				return
			}
			_, err := Load("", tc.environ)
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"", "abc", 3}, {"abc", "", 3},
		{"abc", "abd", 1}, {"abc", "ab", 1}, {"ab", "abc", 1}, {"abc", "acb", 1}, {"ca", "abc", 3},
		{"DURATON", "DURATION", 1}, {"kitten", "sitting", 3},
	} {
		require.Equal(t, tc.want, distance(tc.a, tc.b), "%q %q", tc.a, tc.b)
		require.Equal(t, tc.want, distance(tc.b, tc.a), "%q %q", tc.b, tc.a)
	}
}
