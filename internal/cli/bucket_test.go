package cli

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
)

// TestBucketCommand: 'nagare bucket check' fails, with the fix, on a bucket as created; 'nagare bucket
// setup' makes it readable without credentials and from other origins, after which check passes; a local
// directory is refused with the reason.
func TestBucketCommand(t *testing.T) {
	endpoint, ak, sk := testutil.S3Server(t)
	for key, v := range map[string]string{
		"storage.backend": "s3", "storage.endpoint": endpoint, "storage.bucket": "live", "storage.pathStyle": "true",
		"storage.accessKeyID": ak, "storage.secretAccessKey": sk, "push.prefix": "hls",
	} {
		t.Setenv(config.EnvName(key), v)
	}
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Main(append([]string{"bucket"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, out, errOut := run("setup", "-create", "-public-read=false", "-cors=false")
	require.Equal(t, 1, code, "%s%s", out, errOut)
	require.Contains(t, out, "bucket live exists")
	require.Contains(t, out, "not playable: "+endpoint+"/live/hls/…")
	require.Contains(t, errOut, "bucket not readable without credentials")
	require.Contains(t, errOut, "mc anonymous set download ALIAS/live/hls")

	code, _, errOut = run("check")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "answered 403")

	code, out, errOut = run("setup", "-cors=false")
	require.Equal(t, 1, code, "%s%s", out, errOut)
	require.Contains(t, out, "bucket live: anyone may GET hls/*")
	require.Contains(t, errOut, "bucket does not allow cross-origin reads")

	code, out, errOut = run("setup")
	require.Equal(t, 0, code, "%s%s", out, errOut)
	require.Contains(t, out, "web pages of any origin may GET and HEAD")
	require.Contains(t, out, "playable: players read "+endpoint+"/live/hls/… without credentials, browsers from any origin")

	code, out, errOut = run("check")
	require.Equal(t, 0, code, "%s%s", out, errOut)
	res, err := http.Get(endpoint + "/live?list-type=2&prefix=hls/")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode, "no listing: only GetObject is public")

	code, _, errOut = run("frobnicate")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `want setup or check, not "frobnicate"`)

	t.Setenv(config.EnvName("storage.backend"), "local")
	code, _, errOut = run("check")
	require.Equal(t, 1, code)
	require.True(t, strings.Contains(errOut, `storage.backend is "local", not s3`), errOut)
}
