package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	require.NoError(t, c.Validate())
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   string // "" means valid
	}{
		{"log level", func(c *Config) { c.Log.Level = "trace" },
			`log.level: must be debug, info, warn or error, not "trace"`},
		{"log format", func(c *Config) { c.Log.Format = "xml" },
			`log.format: must be text or json, not "xml"`},
		{"transcoder without a manager", func(c *Config) { c.Node.Role = "transcoder" },
			`cluster.managerURL: a transcoder takes its streams from the manager's assignments: set the manager's URL`},
		{"transcoder", func(c *Config) {
			c.Node.Role, c.Cluster.ManagerURL, c.Cluster.Secret = "transcoder", "http://m:5080", "a-cluster-secret-of-16+"
		}, ""},
		{"edge without parent", func(c *Config) { c.Node.Role = "edge" },
			`node.parent: an edge needs a parent URL (or cluster.managerURL, whose manager assigns one)`},
		{"edge with a bad parent", func(c *Config) { c.Node.Role = "relay"; c.Node.Parent = "origin:8080" },
			`node.parent: must be an http(s) URL such as http://origin:8080, not "origin:8080"`},
		{"unknown role", func(c *Config) { c.Node.Role = "" },
			`node.role: must be origin, relay, edge or transcoder, not ""`},
		{"shutdown timeout zero", func(c *Config) { c.Node.ShutdownTimeout = 0 },
			`node.shutdownTimeout: must be positive`},
		{"shutdown timeout negative", func(c *Config) { c.Node.ShutdownTimeout = -time.Second },
			`node.shutdownTimeout: must be positive`},
		{"read timeout too short", func(c *Config) { c.Node.ReadTimeout = 500 * time.Millisecond },
			`node.readTimeout: must be between 1s and 5m, not 500ms`},
		{"read timeout too long", func(c *Config) { c.Node.ReadTimeout = 6 * time.Minute },
			`node.readTimeout: must be between 1s and 5m, not 6m0s`},
		{"read timeout bounds", func(c *Config) { c.Node.ReadTimeout = 5 * time.Minute }, ""},
		{"rtmp address", func(c *Config) { c.RTMP.Address = "1935" },
			`rtmp.address: must be host:port or :port, not "1935"`},
		{"srt address", func(c *Config) { c.SRT.Address = "" },
			`srt.address: must be host:port or :port, not ""`},
		{"http address", func(c *Config) { c.HTTP.Address = "localhost" },
			`http.address: must be host:port or :port, not "localhost"`},
		{"disabled listener address is not checked", func(c *Config) { c.HTTP.Enabled = false; c.HTTP.Address = "x" }, ""},
		{"host:port address", func(c *Config) { c.RTMP.Address = "127.0.0.1:0" }, ""},
		{"no ingest", func(c *Config) { c.RTMP.Enabled = false; c.SRT.Enabled = false; c.WebRTC.Enabled = false },
			`rtmp.enabled: at least one of rtmp, rtmps, srt and webrtc must be enabled`},
		{"webrtc only", func(c *Config) { c.RTMP.Enabled = false; c.SRT.Enabled = false }, ""},
		{"transcode defaults", func(c *Config) { c.Transcode.Enabled = true }, ""},
		{"transcode rung of no size", func(c *Config) {
			c.Transcode.Enabled = true
			c.Transcode.Rungs = []Rung{{Name: "zero", Height: 0, VideoBitrate: 100_000}}
		}, `transcode.rungs: rung 0 ("zero"): height 0 is not a positive even number`},
		{"transcode rung names twice", func(c *Config) {
			c.Transcode.Enabled = true
			c.Transcode.Rungs = []Rung{{Name: "a", Height: 240, VideoBitrate: 1}, {Name: "a", Height: 120, VideoBitrate: 1}}
		}, `transcode.rungs: rung 1 ("a"): the name is used twice`},
		{"transcode rung of 100 Gbit/s", func(c *Config) {
			c.Transcode.Enabled = true
			c.Transcode.Rungs = []Rung{{Name: "huge", Height: 720, VideoBitrate: 100_000_000_000}}
		}, `transcode.rungs: rung "huge": bit rates above 200000000 bit/s are not video`},
		{"transcode rung name", func(c *Config) {
			c.Transcode.Enabled = true
			c.Transcode.Rungs = []Rung{{Name: "../x", Height: 240, VideoBitrate: 1}}
		}, `transcode.rungs: rung 0 ("../x"): the name must be made of [a-z0-9_-]`},
		{"transcode rung named as the ladder's audio", func(c *Config) {
			c.Transcode.Enabled = true
			c.Transcode.Rungs = []Rung{{Name: "audio", Height: 240, VideoBitrate: 1}}
		}, `transcode.rungs: rung "audio": the name is the ladder's own ("source" is the source's video, "audio" its audio)`},
		{"transcode streams", func(c *Config) { c.Transcode.Enabled = true; c.Transcode.Streams = []string{"live"} },
			`transcode.streams: "live" is not app/stream, app/* or *`},
		{"manager transcode streams", func(c *Config) { c.Manager.TranscodeStreams = []string{"live/*", "../x"} },
			`manager.transcodeStreams: "../x" is not app/stream, app/* or *`},
		{"transcode without ffmpeg", func(c *Config) { c.Transcode.Enabled = true; c.Transcode.FFmpeg = "" },
			`transcode.ffmpeg: must name the ffmpeg binary`},
		{"webrtc address", func(c *Config) { c.WebRTC.Address = "8189" }, `webrtc.address: must be host:port or :port, not "8189"`},
		{"webrtc public IP", func(c *Config) { c.WebRTC.PublicIPs = []string{"example.com"} },
			`webrtc.publicIPs: "example.com" is not an IP address`},
		{"webrtc ICE server", func(c *Config) { c.WebRTC.ICEServers = []string{"http://stun.example.com"} },
			`webrtc.iceServers: "http://stun.example.com" must be a stun:, stuns:, turn: or turns: URL`},
		{"TURN without credentials", func(c *Config) { c.WebRTC.ICEServers = []string{"turn:turn.example.com:3478"} },
			`webrtc.iceUsername: a TURN server (turn:turn.example.com:3478) needs webrtc.iceUsername and webrtc.iceCredential`},
		{"webrtc connect timeout", func(c *Config) { c.WebRTC.ConnectTimeout = time.Millisecond },
			`webrtc.connectTimeout: must be between 1s and 5m, not 1ms`},
		{"webrtc sessions", func(c *Config) { c.WebRTC.MaxSessions = 0 }, `webrtc.maxSessions: must be between 1 and 1048576, not 0`},
		{"webrtc HLS audio", func(c *Config) { c.WebRTC.HLSAudio = "mp3" }, `webrtc.hlsAudio: must be aac or opus, not "mp3"`},
		{"webrtc AAC without ffmpeg", func(c *Config) { c.WebRTC.FFmpeg = "" }, `webrtc.hlsAudio: aac needs webrtc.ffmpeg (or set opus)`},
		{"webrtc offers", func(c *Config) { c.WebRTC.OffersPerMinute = -1 }, `webrtc.offersPerMinute: must be 0 (unbounded) or more, not -1`},
		{"srt only", func(c *Config) { c.RTMP.Enabled = false }, ""},
		{"hls variant", func(c *Config) { c.HLS.Variant = "dash" },
			`hls.variant: must be lowlatency, fmp4 or mpegts, not "dash"`},
		{"segment duration too short", func(c *Config) { c.HLS.SegmentDuration = 10 * time.Millisecond },
			"hls.segmentDuration: must be between 200ms and 30s, not 10ms\n" +
				"hls.partDuration: must be between 50ms and hls.segmentDuration, not 200ms"},
		{"segment duration too long", func(c *Config) { c.HLS.SegmentDuration = 31 * time.Second },
			`hls.segmentDuration: must be between 200ms and 30s, not 31s`},
		{"segment duration bounds", func(c *Config) { c.HLS.SegmentDuration = 200 * time.Millisecond }, ""},
		{"part duration too short", func(c *Config) { c.HLS.PartDuration = 10 * time.Millisecond },
			`hls.partDuration: must be between 50ms and hls.segmentDuration, not 10ms`},
		{"part longer than segment", func(c *Config) { c.HLS.PartDuration = 2 * time.Second },
			`hls.partDuration: must be between 50ms and hls.segmentDuration, not 2s`},
		{"part equals segment", func(c *Config) { c.HLS.PartDuration = c.HLS.SegmentDuration }, ""},
		{"segment count lowlatency", func(c *Config) { c.HLS.SegmentCount = 6 },
			`hls.segmentCount: must be between 7 and 100 for variant lowlatency, not 6`},
		{"segment count mpegts", func(c *Config) { c.HLS.Variant = "mpegts"; c.HLS.SegmentCount = 2 },
			`hls.segmentCount: must be between 3 and 100 for variant mpegts, not 2`},
		{"segment count mpegts minimum", func(c *Config) { c.HLS.Variant = "mpegts"; c.HLS.SegmentCount = 3 }, ""},
		{"mp4 recording of mpegts", func(c *Config) { c.HLS.Variant = "mpegts"; c.Record.MP4 = true },
			`record.mp4: needs an fMP4 hls.variant (lowlatency or fmp4): MPEG-TS recordings are their .ts segments`},
		{"segment count too high", func(c *Config) { c.HLS.SegmentCount = 101 },
			`hls.segmentCount: must be between 7 and 100 for variant lowlatency, not 101`},
		{"publish key path", func(c *Config) { c.Publish.Keys = map[string]string{"live": "k3y-1234567"} },
			`publish.keys: "live" is not <app>/<stream> with names of [A-Za-z0-9_-]{1,128}`},
		{"publish key path traversal", func(c *Config) { c.Publish.Keys = map[string]string{"live/../x": "k3y-1234567"} },
			`publish.keys: "live/../x" is not <app>/<stream> with names of [A-Za-z0-9_-]{1,128}`},
		{"publish key too short", func(c *Config) { c.Publish.Keys = map[string]string{"live/a": "s3cr3t"} },
			`publish.keys: the key for "live/a" is shorter than 8 characters`},
		{"publish key of 8", func(c *Config) { c.Publish.Keys = map[string]string{"live/a": "12345678"} }, ""},
		{"token secret too short", func(c *Config) { c.Publish.TokenSecret = "s3cr3t-0123" },
			`publish.tokenSecret: must be at least 16 characters`},
		{"token secret of 16", func(c *Config) { c.Publish.TokenSecret = "0123456789abcdef" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
			for _, k := range c.Publish.Keys {
				require.NotContains(t, err.Error(), k, "the error repeats a stream key")
			}
			if c.Publish.TokenSecret != "" {
				require.NotContains(t, err.Error(), c.Publish.TokenSecret, "the error repeats the token secret")
			}
		})
	}
}

// Validate must not range over a map to build its message (it once did, for the listeners and
// publish.keys), or a config with two errors of that kind gets its lines in random order.
func TestValidateErrorOrderIsDeterministic(t *testing.T) {
	c := Default()
	c.RTMP.Address = "bad-rtmp"
	c.SRT.Address = "bad-srt"
	c.HTTP.Address = "bad-http"
	c.Publish.Keys = map[string]string{"a/1": "x", "a/2": "x", "a/3": "x", "a/4": "x"}
	first := c.Validate().Error()
	for i := 0; i < 50; i++ {
		require.Equal(t, first, c.Validate().Error(), "Validate's message changed between two calls")
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nagare.yaml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestLoadFile(t *testing.T) {
	p := writeFile(t, `
log:
  level: debug
hls:
  variant: mpegts
  segmentDuration: 4s
publish:
  keys:
    live/a: 12345678
  takeover: true
`)
	c, err := Load(p, nil)
	require.NoError(t, err)
	want := Default()
	want.Log.Level = "debug"
	want.HLS.Variant = "mpegts"
	want.HLS.SegmentDuration = 4 * time.Second
	want.Publish.Keys = map[string]string{"live/a": "12345678"}
	want.Publish.Takeover = true
	require.Equal(t, want, c)
	require.NoError(t, c.Validate())
}

func TestLoadEmptyFile(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"empty", ""},
		{"blank lines", "\n\n"},
		{"comment only", "# nothing here\n"},
		{"document marker only", "---\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(writeFile(t, tc.content), nil)
			require.NoError(t, err)
			require.Equal(t, Default(), c)
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		want    []string // substrings of the error
	}{
		{"unknown key", "hls:\n  segmentDurationn: 2s\n", []string{"segmentDurationn", "line 2"}},
		{"unknown section", "hsl:\n  variant: fmp4\n", []string{"hsl"}},
		{"duration without unit", "hls:\n  segmentDuration: 10\n", []string{"line 2", "Duration"}},
		{"wrong shape", "hls: [1]\n", []string{"line 1"}},
		{"not yaml", "hls: {\n", []string{"yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.content)
			_, err := Load(p, nil)
			require.Error(t, err)
			require.Contains(t, err.Error(), p, "the error names the file")
			for _, s := range tc.want {
				require.Contains(t, err.Error(), s)
			}
		})
	}

	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// A second YAML document must be refused: decoding only the first would drop its settings silently.
func TestLoadRefusesSecondYAMLDocument(t *testing.T) {
	for _, content := range []string{
		"---\n---\nhls:\n  segmentDuration: 5s\n",
		"hls:\n  segmentDuration: 4s\n---\nhls:\n  segmentDuration: 5s\n",
		"hls:\n  segmentDuration: 4s\n---\nnotAKey: 1\n",
	} {
		p := writeFile(t, content)
		_, err := Load(p, nil)
		require.ErrorContains(t, err, "more than one YAML document")
		require.ErrorContains(t, err, p)
	}
}

func TestLoadEnv(t *testing.T) {
	file := writeFile(t, "hls:\n  segmentDuration: 4s\nrtmp:\n  address: \":1936\"\n")
	for _, tc := range []struct {
		name    string
		environ []string
		mutate  func(c *Config)
	}{
		{"none", nil, func(c *Config) {}},
		{"duration overrides the file", []string{"NAGARE_HLS_SEGMENT_DURATION=2s"},
			func(c *Config) { c.HLS.SegmentDuration = 2 * time.Second }},
		{"map", []string{"NAGARE_PUBLISH_KEYS=live/a=12345678"},
			func(c *Config) { c.Publish.Keys = map[string]string{"live/a": "12345678"} }},
		{"map with two entries and spaces", []string{"NAGARE_PUBLISH_KEYS=live/a=12345678, live/b = k=v=abcdefgh"},
			func(c *Config) { c.Publish.Keys = map[string]string{"live/a": "12345678", "live/b": "k=v=abcdefgh"} }},
		{"empty map", []string{"NAGARE_PUBLISH_KEYS="},
			func(c *Config) { c.Publish.Keys = map[string]string{} }},
		{"bool", []string{"NAGARE_RTMP_ENABLED=false"}, func(c *Config) { c.RTMP.Enabled = false }},
		{"int", []string{"NAGARE_HLS_SEGMENT_COUNT=12"}, func(c *Config) { c.HLS.SegmentCount = 12 }},
		{"string", []string{"NAGARE_PUBLISH_TOKEN_SECRET=0123456789abcdef"},
			func(c *Config) { c.Publish.TokenSecret = "0123456789abcdef" }},
		{"string overrides the file", []string{"NAGARE_RTMP_ADDRESS=127.0.0.1:0"},
			func(c *Config) { c.RTMP.Address = "127.0.0.1:0" }},
		{"several", []string{"NAGARE_LOG_LEVEL=warn", "NAGARE_PUBLISH_ALLOW_UNAUTHENTICATED=true", "NAGARE_NODE_SHUTDOWN_TIMEOUT=1m"},
			func(c *Config) {
				c.Log.Level = "warn"
				c.Publish.AllowUnauthenticated = true
				c.Node.ShutdownTimeout = time.Minute
			}},
		{"NAGARE_CONFIG is not a setting", []string{"NAGARE_CONFIG=/etc/nagare.yaml"}, func(c *Config) {}},
		{"other variables are ignored", []string{"PATH=/bin", "NAGARE=1", "NAGAREX_Y=1", "nagare_log_level=x", "NAGARE_NO_EQUALS_SIGN"},
			func(c *Config) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(file, tc.environ)
			require.NoError(t, err)
			want := Default()
			want.HLS.SegmentDuration = 4 * time.Second
			want.RTMP.Address = ":1936"
			tc.mutate(&want)
			require.Equal(t, want, c)
		})
	}
}

func TestLoadEnvErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		want    []string // substrings of the error
		secret  string   // must not appear in the error
	}{
		{"unknown variable", []string{"NAGARE_HLS_SEGMENT_DURATON=2s"}, []string{"NAGARE_HLS_SEGMENT_DURATON", "unknown"}, ""},
		{"section is not a setting", []string{"NAGARE_HLS=x"}, []string{"NAGARE_HLS", "unknown"}, ""},
		{"bad duration", []string{"NAGARE_HLS_SEGMENT_DURATION=fast"},
			[]string{"NAGARE_HLS_SEGMENT_DURATION", "hls.segmentDuration", "duration"}, ""},
		{"empty duration", []string{"NAGARE_NODE_READ_TIMEOUT="}, []string{"NAGARE_NODE_READ_TIMEOUT", "node.readTimeout"}, ""},
		{"bad bool", []string{"NAGARE_RTMP_ENABLED=maybe"}, []string{"NAGARE_RTMP_ENABLED", "rtmp.enabled", "boolean"}, ""},
		{"bad int", []string{"NAGARE_HLS_SEGMENT_COUNT=7.5"}, []string{"NAGARE_HLS_SEGMENT_COUNT", "hls.segmentCount", "integer"}, ""},
		{"bad map", []string{"NAGARE_PUBLISH_KEYS=live/a:s3cr3t-k3y"}, []string{"NAGARE_PUBLISH_KEYS", "publish.keys"}, "s3cr3t-k3y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("", tc.environ)
			require.Error(t, err)
			for _, s := range tc.want {
				require.Contains(t, err.Error(), s)
			}
			if tc.secret != "" {
				require.NotContains(t, err.Error(), tc.secret)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"log.level", "NAGARE_LOG_LEVEL"},
		{"hls.segmentDuration", "NAGARE_HLS_SEGMENT_DURATION"},
		{"manager.storeDSN", "NAGARE_MANAGER_STORE_DSN"},
		{"cluster.managerURL", "NAGARE_CLUSTER_MANAGER_URL"},
		{"cluster.advertiseRTMP", "NAGARE_CLUSTER_ADVERTISE_RTMP"},
		{"cluster.nodeID", "NAGARE_CLUSTER_NODE_ID"},
		{"hls.segmentCount", "NAGARE_HLS_SEGMENT_COUNT"},
		{"node.shutdownTimeout", "NAGARE_NODE_SHUTDOWN_TIMEOUT"},
		{"rtmp.enabled", "NAGARE_RTMP_ENABLED"},
		{"publish.keys", "NAGARE_PUBLISH_KEYS"},
		{"publish.tokenSecret", "NAGARE_PUBLISH_TOKEN_SECRET"},
		{"publish.allowUnauthenticated", "NAGARE_PUBLISH_ALLOW_UNAUTHENTICATED"},
		{"a.b.cD", "NAGARE_A_B_C_D"},
		{"Upper.Case", "NAGARE_UPPER_CASE"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			require.Equal(t, tc.want, EnvName(tc.key))
		})
	}
}

// Every setting has its own variable, and Load accepts it.
func TestEveryKeyHasADistinctEnvName(t *testing.T) {
	c := Default()
	seen := map[string]string{}
	require.NoError(t, walk(reflect.ValueOf(&c).Elem(), "", func(key string, _ reflect.Value) error {
		name := EnvName(key)
		require.NotContains(t, seen, name, "%s and %s share %s", seen[name], key, name)
		seen[name] = key
		require.Regexp(t, `^NAGARE_[A-Z0-9_]+$`, name)
		return nil
	}))
	require.Contains(t, seen, "NAGARE_HLS_SEGMENT_DURATION")
	require.Contains(t, seen, "NAGARE_PUBLISH_KEYS")
	for name := range seen {
		_, err := Load("", []string{name + "=" + sampleValue(name)})
		if err != nil {
			require.NotContains(t, err.Error(), "unknown setting", name)
		}
	}
}

func sampleValue(name string) string {
	switch {
	case strings.HasSuffix(name, "_ENABLED"), strings.HasSuffix(name, "_TAKEOVER"), strings.HasSuffix(name, "_UNAUTHENTICATED"):
		return "true"
	case strings.HasSuffix(name, "_TIMEOUT"), strings.HasSuffix(name, "_DURATION"):
		return "1s"
	case strings.HasSuffix(name, "_COUNT"):
		return "7"
	}
	return "x"
}

// TestValidateSteering pins the errors of content steering's settings (the storage pathway's).
func TestValidateSteering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   string // "" means valid
	}{
		{"steering storage pathway", func(c *Config) { c.Manager.Steering.CDN.URL = "https://cdn.example/hls" }, ""},
		{"steering storage pathway, not a URL", func(c *Config) { c.Manager.Steering.CDN.URL = "cdn.example/hls" },
			`manager.steering.cdn.url: must be an http(s) URL without a query, not "cdn.example/hls"`},
		{"steering storage pathway, a query", func(c *Config) { c.Manager.Steering.CDN.URL = "https://cdn.example/hls?x=1" },
			`manager.steering.cdn.url: must be an http(s) URL without a query, not "https://cdn.example/hls?x=1"`},
		{"steering storage playlist", func(c *Config) {
			c.Manager.Steering.CDN.URL, c.Manager.Steering.CDN.Playlist = "https://cdn.example/hls", "stream.m3u8"
		}, `manager.steering.cdn.playlist: must be index.m3u8 or index_ll.m3u8, not "stream.m3u8"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.Manager.AdminToken, c.Cluster.Secret = "admin-token-0123456789", "a-cluster-secret-of-16+"
			tc.mutate(&c)
			err := c.ValidateManager()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestValidateVOD pins the VOD service's setting errors: each names its key.
func TestValidateVOD(t *testing.T) {
	valid := func(c *Config) {
		c.Manager.AdminToken = "admin-token-0123456789"
		c.VOD.TokenSecret = "vod-secret-0123456789"
	}
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   string // "" means valid
	}{
		{"defaults with secrets", func(c *Config) {}, ""},
		{"no token secret", func(c *Config) { c.VOD.TokenSecret = "short" }, "vod.tokenSecret: must be at least 16 characters"},
		{"no admin token", func(c *Config) { c.Manager.AdminToken = "" },
			"manager.adminToken: must be at least 16 characters (it is the VOD service's admin token too)"},
		{"grpc address", func(c *Config) { c.VOD.GRPCAddress = "9090" }, `vod.grpcAddress: must be host:port or :port, not "9090"`},
		{"public URL", func(c *Config) { c.VOD.PublicURL = "vod.example" }, `vod.publicURL: must be an http(s) URL, not "vod.example"`},
		{"store engine", func(c *Config) { c.VOD.StoreEngine = "postgres" }, `vod.storeEngine: must be sqlite or mysql, not "postgres"`},
		{"prefix with dots", func(c *Config) { c.VOD.Prefix = "../vod" }, `vod.prefix: must be a key prefix without leading or trailing /, dots or backslashes, not "../vod"`},
		{"part size", func(c *Config) { c.VOD.PartSize = 1 << 20 }, "vod.partSize: must be between 5 MiB (5242880) and 512 MiB, not 1048576"},
		{"quota", func(c *Config) { c.VOD.Quota = -1 }, "vod.quota: must not be negative (0 = no quota), not -1"},
		{"cache size", func(c *Config) { c.VOD.CacheSize = -1 }, "vod.cacheSize: must not be negative (0 = no cache), not -1"},
		{"workers", func(c *Config) { c.VOD.Workers = 0 }, "vod.workers: must be between 1 and 64, not 0"},
		{"recordings visibility", func(c *Config) { c.VOD.RecordingsVisibility = "open" },
			`vod.recordingsVisibility: must be private, unlisted or public, not "open"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			valid(&c)
			tc.mutate(&c)
			err := c.ValidateVOD()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
		})
	}
}
