package cli

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLoadtestRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"loadtest"}, "-url is required"},
		{[]string{"loadtest", "-url", "http://192.0.2.1/live/s/index.m3u8", "-q"}, "-allow-remote"},
		{[]string{"loadtest", "-url", "http://127.0.0.1:1/live/s/index.m3u8", "-viewers", "0"}, "viewers must be"},
	} {
		var out, errOut bytes.Buffer
		assert.Equal(t, 1, Main(tc.args, &out, &errOut), "%v", tc.args)
		assert.Contains(t, errOut.String(), tc.want, "%v", tc.args)
	}
}
