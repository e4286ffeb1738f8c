// Package config loads nagare's configuration: defaults in code, then an optional YAML file (unknown keys
// are errors), then NAGARE_* environment variables, then Validate, whose errors name the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/vod/ladder"
)

// Config is the configuration of every nagare role.
type Config struct {
	Log       Log       `yaml:"log"`
	Node      Node      `yaml:"node"`
	RTMP      Listen    `yaml:"rtmp"`
	RTMPS     Listen    `yaml:"rtmps"` // RTMP inside TLS, with tls.certFile's certificate; off by default
	SRT       SRT       `yaml:"srt"`
	HTTP      Listen    `yaml:"http"`
	WebRTC    WebRTC    `yaml:"webrtc"`
	HLS       HLS       `yaml:"hls"`
	Publish   Publish   `yaml:"publish"`
	Cluster   Cluster   `yaml:"cluster"`
	Manager   Manager   `yaml:"manager"`
	Storage   Storage   `yaml:"storage"`
	Push      Push      `yaml:"push"`
	Record    Record    `yaml:"record"`
	VOD       VOD       `yaml:"vod"`
	Transcode Transcode `yaml:"transcode"`
	TLS       TLS       `yaml:"tls"`
}

// TLS serves every HTTP listener of the process (the manager's API and pages, a node's HLS, WHIP and WHEP
// and cluster endpoints, the VOD service's HTTP and gRPC) over TLS from certificate files, read again
// when they change; the URLs the manager hands out for such a node are https.
type TLS struct {
	CertFile string `yaml:"certFile"` // PEM, the chain from the server's certificate on
	KeyFile  string `yaml:"keyFile"`
	// CAFile is the PEM of the authorities this process trusts when it calls the cluster's servers over
	// HTTPS (its manager, parents, origins, nodes); "" = the system's roots.
	CAFile string `yaml:"caFile"`
	// ACME obtains the manager's certificate from an ACME authority instead of files.
	ACME ACME `yaml:"acme"`
}

// ACME obtains and renews the manager's certificate (Let's Encrypt, or a private ACME authority):
// TLS-ALPN-01 on the manager's port, HTTP-01 on HTTPAddress.
type ACME struct {
	Domains      []string `yaml:"domains"` // the manager's names; none = ACME off
	Email        string   `yaml:"email"`
	DirectoryURL string   `yaml:"directoryURL"` // "" = Let's Encrypt's production directory
	CacheDir     string   `yaml:"cacheDir"`     // the account key and certificates, kept across restarts
	// HTTPAddress serves HTTP-01 challenges and redirects to https (e.g. ":80"); "" = TLS-ALPN-01 only.
	HTTPAddress string `yaml:"httpAddress"`
	// CAFile is the PEM of the authority of the ACME server's own HTTPS certificate (a private ACME
	// server); "" = the system's roots.
	CAFile string `yaml:"caFile"`
}

// Enabled reports whether the process serves TLS from files.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// Serving reports whether the manager serves TLS, from files or by ACME.
func (t TLS) Serving() bool { return t.Enabled() || len(t.ACME.Domains) > 0 }

// validate reports a half-configured pair.
func (t TLS) validate(bad func(key, format string, args ...any)) {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		bad("tls.keyFile", "must be set with tls.certFile")
	case t.CertFile == "" && t.KeyFile != "":
		bad("tls.certFile", "must be set with tls.keyFile")
	}
	a := t.ACME
	if len(a.Domains) == 0 {
		return
	}
	if t.CertFile != "" {
		bad("tls.acme.domains", "ACME and tls.certFile exclude each other: the certificate comes from one or the other")
	}
	for _, d := range a.Domains {
		if !validDomain(d) {
			bad("tls.acme.domains", "%q is not a DNS name", d)
		}
	}
	if a.CacheDir == "" {
		bad("tls.acme.cacheDir", "must name a directory for the account key and certificates")
	}
	if a.HTTPAddress != "" {
		if _, _, err := net.SplitHostPort(a.HTTPAddress); err != nil {
			bad("tls.acme.httpAddress", "must be host:port or :port, not %q", a.HTTPAddress)
		}
	}
}

// validDomain reports whether d is a DNS name (letters, digits and hyphens in dot-separated labels).
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Transcode makes an adaptive ladder of the live streams an origin receives (other roles ignore it:
// edges and relays carry the origin's renditions): one ffmpeg per stream
// decodes it once and encodes every rung below the source (libx264, keyframes on the source's), and the
// stream's multivariant playlist lists the source and every rung, their LL-HLS parts lined up.
type Transcode struct {
	Enabled bool `yaml:"enabled"`
	// Streams selects the transcoded streams: "app/stream", "app/*" or "*" (none = every stream).
	Streams []string `yaml:"streams"`
	// Rungs are the renditions below the source, which is itself the top rung: rungs as tall as the
	// source or taller are left out.
	Rungs []Rung `yaml:"rungs"`
	// Passthrough offers the source itself as the top rendition (the default). Off, the multivariant
	// playlists list only the renditions once there are some, and a rung as tall as the source is made.
	Passthrough bool `yaml:"passthrough"`
	// AudioBitrate is kept for configurations that set it, and not used: the rungs are video only and
	// share the source's audio, as published, as the ladder's one audio rendition (docs/abr.md).
	AudioBitrate int    `yaml:"audioBitrate"`
	FFmpeg       string `yaml:"ffmpeg"`
	Preset       string `yaml:"preset"` // libx264's
}

// Rung is one rendition of a ladder: a name ([a-z0-9_-]; the rendition's stream is
// <app>/<stream>_<name>), the picture's short side, its bit rates in bit/s (MaxRate 0 = 1.5 ×
// VideoBitrate), and a cap on its frame rate (0 = the source's).
type Rung struct {
	Name         string  `yaml:"name"`
	Height       int     `yaml:"height"`
	VideoBitrate int     `yaml:"videoBitrate"`
	MaxRate      int     `yaml:"maxRate"`
	FrameRate    float64 `yaml:"frameRate"`
}

// Ladder is the transcoding ladder of the configuration.
func (t Transcode) Ladder() ladder.Ladder {
	l := ladder.Ladder{AudioBitrate: t.AudioBitrate, Passthrough: t.Passthrough}
	for _, r := range t.Rungs {
		l.Rungs = append(l.Rungs, ladder.Rung{Name: r.Name, Height: r.Height, VideoBitrate: r.VideoBitrate, MaxRate: r.MaxRate, FrameRate: r.FrameRate})
	}
	return l
}

// VOD configures the VOD service (nagare vod, and nagare all): uploads over gRPC into storage (see
// storage), a library in SQL, processing into adaptive HLS, and HTTP playback.
type VOD struct {
	// GRPCAddress serves nagare.vod.v1.VideoService, gRPC health and reflection; HTTPAddress serves
	// playback (/vod/...).
	GRPCAddress string `yaml:"grpcAddress"`
	HTTPAddress string `yaml:"httpAddress"`
	// PublicURL is the base of the playback URLs the service hands out (default http://<httpAddress>).
	PublicURL string `yaml:"publicURL"`
	// StoreEngine and StoreDSN: the library's database ("" = the manager's; the tables are prefixed vod_).
	StoreEngine string `yaml:"storeEngine"`
	StoreDSN    string `yaml:"storeDSN"`
	// TokenSecret signs upload tokens (nagare token -vod-owner) and private videos' playback URLs; at
	// least 16 characters. The admin token is manager.adminToken.
	TokenSecret string `yaml:"tokenSecret"`
	// Prefix starts the keys of every video's objects: <prefix>/<id>/...
	Prefix string `yaml:"prefix"`
	// CacheSize is the bytes of the MP4s and HLS files playback keeps in memory, in 1 MiB blocks, so that
	// hot videos are not read from storage on every request (0 = no cache).
	CacheSize int64 `yaml:"cacheSize"`
	// MaxUploadSize bounds one upload, Quota (0 = none) the bytes of every video of one owner.
	MaxUploadSize int64 `yaml:"maxUploadSize"`
	Quota         int64 `yaml:"quota"`
	// PartSize is the size of the parts an upload is stored in (at least 5 MiB): a broken connection
	// loses at most the part being filled.
	PartSize int64 `yaml:"partSize"`
	// UploadExpiry is how long an upload that makes no progress is kept before its parts are aborted.
	UploadExpiry time.Duration `yaml:"uploadExpiry"`
	// Workers is how many videos are processed at once; WorkDir holds their files meanwhile.
	Workers int    `yaml:"workers"`
	WorkDir string `yaml:"workDir"`
	FFmpeg  string `yaml:"ffmpeg"`
	FFprobe string `yaml:"ffprobe"`
	// Preset is libx264's preset for the ladder; SegmentDuration the HLS segments' length.
	Preset          string        `yaml:"preset"`
	SegmentDuration time.Duration `yaml:"segmentDuration"`
	// Recordings adds the recordings origins store under push.prefix to the library, as videos of
	// RecordingsOwner with RecordingsVisibility (private, unlisted or public).
	Recordings           bool   `yaml:"recordings"`
	RecordingsOwner      string `yaml:"recordingsOwner"`
	RecordingsVisibility string `yaml:"recordingsVisibility"`
}

// Push mirrors an origin's live HLS into storage (see storage): init section, parts and segments as soon
// as they are complete, playlists after the media they name.
type Push struct {
	Enabled bool `yaml:"enabled"`
	// Streams selects the pushed streams: "app/stream", "app/*" or "*" (none = every stream).
	Streams []string `yaml:"streams"`
	// Prefix starts every key: <prefix>/<app>/<stream>/<object>.
	Prefix string `yaml:"prefix"`
	// KeepOld leaves objects that fell out of the live window for a bucket lifecycle rule to expire.
	KeepOld bool `yaml:"keepOld"`
	// LowLatency also pushes stream_ll.m3u8 / index_ll.m3u8, an LL-HLS playlist with the parts and without
	// blocking reloads, which players poll (one more PUT per part).
	LowLatency bool `yaml:"lowLatency"`
	// Concurrency bounds the uploads in flight; Backlog the objects queued per stream before the oldest
	// live ones are skipped.
	Concurrency int `yaml:"concurrency"`
	Backlog     int `yaml:"backlog"`
	// PublicRead makes the node add a bucket policy statement at start that lets anyone GET the objects
	// under Prefix (players read them without credentials). CORS adds a bucket CORS rule that lets pages
	// of any origin GET and HEAD them (browser players). Both need storage.backend s3.
	PublicRead bool `yaml:"publicRead"`
	CORS       bool `yaml:"cors"`
}

// Record keeps streams whole in storage as VOD: an HLS VOD playlist over the pushed segments, a JSON
// manifest and, with MP4, one MP4 file.
type Record struct {
	Enabled bool     `yaml:"enabled"`
	Streams []string `yaml:"streams"` // as for push
	MP4     bool     `yaml:"mp4"`
}

// Storage is the object storage a node writes to (access logs; live HLS and recordings).
type Storage struct {
	Backend   string `yaml:"backend"`   // local (default) or s3
	Directory string `yaml:"directory"` // local: the root directory
	Endpoint  string `yaml:"endpoint"`  // s3: base URL; empty means AWS
	Region    string `yaml:"region"`
	Bucket    string `yaml:"bucket"`
	PathStyle bool   `yaml:"pathStyle"`
	// AccessKeyID and SecretAccessKey; empty means the AWS default chain (environment, instance role).
	AccessKeyID     string `yaml:"accessKeyID"`
	SecretAccessKey string `yaml:"secretAccessKey"`
}

// Autoscale configures the manager's autoscaler and the cloud controller it launches nodes through.
type Autoscale struct {
	// Controller is the cloud controller: process, docker, kubernetes, aws or sim ("" turns the
	// autoscaler off: nodes are started by hand).
	Controller string `yaml:"controller"`
	// Settings are the controller's options (see internal/cloud/README.md).
	Settings map[string]string `yaml:"settings"`
	Interval time.Duration     `yaml:"interval"`
	// Predictive scales out when the load's recent trend, projected over the warm-up, crosses the alarm.
	Predictive bool `yaml:"predictive"`
	// LowWater is the scale-in threshold in percent of capacity.
	LowWater int `yaml:"lowWater"`
	// WarmUp and CoolDown apply when a scale policy sets none.
	WarmUp   time.Duration `yaml:"warmUp"`
	CoolDown time.Duration `yaml:"coolDown"`
	// DrainTimeout is how long a draining node may keep its viewers before it is terminated anyway.
	DrainTimeout time.Duration `yaml:"drainTimeout"`
	// LeaseTTL is how long a manager keeps acting on a group without renewing its lease.
	LeaseTTL time.Duration `yaml:"leaseTTL"`
	// ManagerURL is the address launched nodes reach the manager at (default: the bound address).
	ManagerURL string `yaml:"managerURL"`
}

// Cluster holds what the manager and its nodes share.
type Cluster struct {
	// Secret authenticates nodes to the manager; at least 16 characters.
	Secret string `yaml:"secret"`
	// ManagerURL is where a node registers and reports ("" runs the node standalone).
	ManagerURL string `yaml:"managerURL"`
	// NodeID is the node's identity when a cloud controller launched it ("" lets the manager choose).
	NodeID string `yaml:"nodeID"`
	Group  string `yaml:"group"`
	Region string `yaml:"region"`
	Zone   string `yaml:"zone"`
	// Advertise are the host:port addresses clients use to reach this node (default: the bound ones).
	AdvertiseRTMP  string `yaml:"advertiseRTMP"`
	AdvertiseRTMPS string `yaml:"advertiseRTMPS"`
	AdvertiseSRT   string `yaml:"advertiseSRT"`
	AdvertiseHTTP  string `yaml:"advertiseHTTP"`
}

// Manager configures the stream manager.
type Manager struct {
	Address string `yaml:"address"`
	// StoreEngine is sqlite or mysql; StoreDSN the SQLite file or the MySQL DSN.
	StoreEngine string `yaml:"storeEngine"`
	StoreDSN    string `yaml:"storeDSN"`
	// AdminToken guards the admin API; at least 16 characters.
	AdminToken string `yaml:"adminToken"`
	// SharedStore: several managers use this store (MySQL), e.g. behind a load balancer. Every node's
	// latest report is then stored (in batches, every quarter of a report interval) and each manager reads
	// the others' back every report interval.
	SharedStore    bool          `yaml:"sharedStore"`
	ReportInterval time.Duration `yaml:"reportInterval"`
	NodeTimeout    time.Duration `yaml:"nodeTimeout"`
	// ReadTimeout is how long a client may take to send a whole request, body included.
	ReadTimeout time.Duration `yaml:"readTimeout"`
	// StoreTimeout bounds every call to the store: a database that does not answer within it gives 503.
	StoreTimeout time.Duration `yaml:"storeTimeout"`
	// MaxConnections caps the open connections of the manager's port; beyond it a new one is closed at once.
	MaxConnections int `yaml:"maxConnections"`
	// Weights of the best-edge selection.
	WeightStreams     float64   `yaml:"weightStreams"`
	WeightConnections float64   `yaml:"weightConnections"`
	WeightSubscribers float64   `yaml:"weightSubscribers"`
	WeightMemory      float64   `yaml:"weightMemory"`
	WeightRestreamer  float64   `yaml:"weightRestreamer"`
	Autoscale         Autoscale `yaml:"autoscale"`
	Steering          Steering  `yaml:"steering"`
	// TranscodeStreams are the live streams the cluster's transcoder nodes make a ladder of even when none
	// was provisioned for them ("app/stream", "app/*" or "*"; none: only the provisioned streams). Such a
	// stream gets the transcoder's own ladder (its transcode.rungs, the default ladder unless set).
	TranscodeStreams []string `yaml:"transcodeStreams"`
	// PublishTokenSecret is the nodes' publish.tokenSecret: with it the console makes publish tokens for its
	// WHIP publisher ("" = it cannot).
	PublishTokenSecret string `yaml:"publishTokenSecret"`
	// Site is the public video site the manager serves at /.
	Site Site `yaml:"site"`
	// VOD is how the manager reaches the VOD service for the console's library and the site's videos.
	VOD ManagerVOD `yaml:"vod"`
}

// Site configures the public site (/, /watch/<id>, /live/<app>/<stream>, /embed/...).
type Site struct {
	Enabled bool   `yaml:"enabled"`
	Name    string `yaml:"name"`
}

// ManagerVOD is the VOD service as the manager reaches it ("" address: the console has no library and the
// site no videos).
type ManagerVOD struct {
	// Address is the VOD service's gRPC host:port.
	Address string `yaml:"address"`
	// Token is the VOD service's admin token ("" = manager.adminToken, which the VOD service takes too).
	Token string `yaml:"token"`
	// TLS: the VOD service's gRPC port serves TLS (trusted by tls.caFile or the system's roots).
	TLS bool `yaml:"tls"`
}

// Steering configures HLS Content Steering: edges name the manager in their multivariant playlists, and
// players ask it every TTL which edge to load from, so that viewers leave a draining, dead or overloaded
// edge for another without reloading.
type Steering struct {
	Enabled bool `yaml:"enabled"`
	// TTL is how long a player keeps a steering answer (whole seconds, 1 s to 5 min): viewers move
	// within about one TTL, and each asks once per TTL.
	TTL time.Duration `yaml:"ttl"`
	// PublicURL is the manager's URL as players reach it (default: autoscale.managerURL, else the bound
	// address).
	PublicURL string `yaml:"publicURL"`
	// CDN adds the storage push's copy of the streams (the bucket, or a CDN in front of it) as a pathway
	// of its own: players fall back to it when their edge fails, and are steered to it when their edge
	// drains or dies and no other edge can take them.
	CDN SteeringCDN `yaml:"cdn"`
}

// SteeringCDN is the storage pathway of content steering (see Steering.CDN).
type SteeringCDN struct {
	// URL is where players read what the storage push wrote, down to the push's prefix:
	// <URL>/<app>/<stream>/<Playlist> is a stream's multivariant playlist ("": no storage pathway).
	URL string `yaml:"url"`
	// Playlist is the multivariant playlist's name there: index.m3u8, or index_ll.m3u8 (the polled
	// low-latency copy) when the origins push with push.lowLatency.
	Playlist string `yaml:"playlist"`
}

// Log configures log/slog.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Node configures a media node.
type Node struct {
	Role string `yaml:"role"` // origin, relay or edge
	// Parent is the base URL an edge or relay pulls from (http://origin:8080); with a manager, the
	// manager assigns it.
	Parent          string        `yaml:"parent"`
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// ReadTimeout drops a publisher that sends nothing for this long.
	ReadTimeout time.Duration `yaml:"readTimeout"`
	// AccessLog is the file the node writes its HTTP access log to ("" = none); on a graceful stop it is
	// uploaded to storage under accesslogs/<group>/<node>/.
	AccessLog string `yaml:"accessLog"`
	// Pprof serves Go's profiler at /debug/pprof/ on the HTTP port (off by default: it reveals internals).
	Pprof bool `yaml:"pprof"`
	// AdaptiveProcs runs the node on one scheduler P while its load is light and on every CPU once it
	// grows (internal/procs): a node ingesting a few streams then pays no second thread's wake-ups. Off
	// when GOMAXPROCS is set in the environment.
	AdaptiveProcs bool `yaml:"adaptiveProcs"`
	// MaxConnections caps the open connections of each of the node's TCP ports (RTMP, HTTP); beyond it a
	// new connection is closed at once.
	MaxConnections int `yaml:"maxConnections"`
	// NotFoundTTL (edges and relays) is how long a stream the parent answered 404 for is answered 404
	// without asking the parent again, so that requests for made-up names cost one upstream request each.
	NotFoundTTL time.Duration `yaml:"notFoundTTL"`
}

// WebRTC configures WHIP ingest (origins) and WHEP playback (every node), on the HTTP port; the media
// of every session shares one UDP port, with ICE-TCP on the same port number.
type WebRTC struct {
	Enabled bool `yaml:"enabled"`
	// Address is the UDP (and ICE-TCP) port, host:port.
	Address string `yaml:"address"`
	// PublicIPs are the addresses written in the ICE candidates (default: the host of
	// cluster.advertiseHTTP when it is an IP address, else the addresses the port is bound to).
	PublicIPs []string `yaml:"publicIPs"`
	// ICEServers are STUN/TURN URLs announced to clients (Link: rel="ice-server"), e.g.
	// stun:stun.example.com:3478; ICEUsername and ICECredential go with the turn: ones.
	ICEServers    []string `yaml:"iceServers"`
	ICEUsername   string   `yaml:"iceUsername"`
	ICECredential string   `yaml:"iceCredential"`
	// ConnectTimeout reaps a session whose ICE has not connected by then.
	ConnectTimeout time.Duration `yaml:"connectTimeout"`
	// MaxSessions bounds the node's WHIP and WHEP sessions together.
	MaxSessions int `yaml:"maxSessions"`
	// OffersPerMinute bounds the offers one client address may make (0: unbounded).
	OffersPerMinute int `yaml:"offersPerMinute"`
	// FFmpeg turns AAC (RTMP, SRT) into Opus for WebRTC viewers ("" leaves them without sound), and a
	// WHIP publication's Opus into AAC for its HLS.
	FFmpeg string `yaml:"ffmpeg"`
	// HLSAudio is the audio of a WHIP publication's HLS: "aac" (made from its Opus by ffmpeg: every HLS
	// player plays it) or "opus" (as published: no transcoding, but Safari before 17 has no Opus).
	HLSAudio string `yaml:"hlsAudio"`
}

// Listen is a network listener that can be turned off.
type Listen struct {
	Enabled bool   `yaml:"enabled"`
	Address string `yaml:"address"`
}

// SRT is the SRT ingest port; with a passphrase, SRT's own AES encryption is required of every caller
// (a caller without it, or with another, is refused at the handshake).
type SRT struct {
	Enabled bool   `yaml:"enabled"`
	Address string `yaml:"address"`
	// Passphrase (10 to 79 characters) requires SRT's AES encryption with it of every caller; the key
	// length (pbkeylen 16, 24 or 32) is the caller's, as with libsrt. "" = unencrypted callers.
	Passphrase string `yaml:"passphrase"`
}

// HLS configures the muxers.
type HLS struct {
	Variant         string        `yaml:"variant"` // lowlatency, fmp4 or mpegts
	SegmentDuration time.Duration `yaml:"segmentDuration"`
	PartDuration    time.Duration `yaml:"partDuration"`
	SegmentCount    int           `yaml:"segmentCount"`
	// Storage is where finished segments live: "memory" (the default: anonymous memory files, outside the
	// Go heap, or the heap where the system has none) or "disk" (files under Directory, in the page
	// cache). Either way responses send them with sendfile; the parts of the segment being written stay
	// on the heap.
	Storage   string `yaml:"storage"`
	Directory string `yaml:"directory"`
}

// Publish configures who may publish.
type Publish struct {
	// Keys maps "<app>/<stream>" to its stream key.
	Keys map[string]string `yaml:"keys"`
	// TokenSecret signs publish tokens (nagare token); at least 16 bytes.
	TokenSecret string `yaml:"tokenSecret"`
	// AllowUnauthenticated accepts publishers without credentials. Only for closed test networks.
	AllowUnauthenticated bool `yaml:"allowUnauthenticated"`
	// Takeover lets a new publisher replace the live one instead of being refused.
	Takeover bool `yaml:"takeover"`
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Log: Log{Level: "info", Format: "text"},
		Node: Node{Role: "origin", ShutdownTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, MaxConnections: 10000, AdaptiveProcs: true,
			NotFoundTTL: time.Second},
		RTMP:  Listen{Enabled: true, Address: ":1935"},
		RTMPS: Listen{Enabled: false, Address: ":1936"},
		SRT:   SRT{Enabled: true, Address: ":8890"},
		HTTP:  Listen{Enabled: true, Address: ":8080"},
		WebRTC: WebRTC{Enabled: true, Address: ":8189", ConnectTimeout: 15 * time.Second, MaxSessions: 5000,
			OffersPerMinute: 120, FFmpeg: "ffmpeg", HLSAudio: "aac"},
		HLS: HLS{
			Variant: "lowlatency", SegmentDuration: time.Second, PartDuration: 200 * time.Millisecond,
			SegmentCount: 7, Storage: "memory",
		},
		Manager: Manager{
			Address: ":5080", StoreEngine: "sqlite", StoreDSN: "nagare.db",
			ReportInterval: 2 * time.Second, NodeTimeout: 10 * time.Second,
			ReadTimeout: 10 * time.Second, MaxConnections: 10000, StoreTimeout: 2 * time.Second,
			WeightStreams: 30, WeightConnections: 15, WeightSubscribers: 60, WeightMemory: 20, WeightRestreamer: 35,
			Site: Site{Enabled: true, Name: "nagare"},
			Autoscale: Autoscale{
				Interval: time.Second, Predictive: true, LowWater: 30, WarmUp: time.Minute, CoolDown: time.Minute,
				DrainTimeout: 5 * time.Minute, LeaseTTL: 15 * time.Second,
			},
			Steering: Steering{Enabled: true, TTL: 5 * time.Second, CDN: SteeringCDN{Playlist: "index.m3u8"}},
		},
		Storage: Storage{Backend: "local", Directory: "nagare-objects"},
		Transcode: Transcode{
			Rungs: []Rung{
				{Name: "720p", Height: 720, VideoBitrate: 2_500_000},
				{Name: "480p", Height: 480, VideoBitrate: 1_000_000},
				{Name: "360p", Height: 360, VideoBitrate: 600_000},
			},
			AudioBitrate: 128_000, FFmpeg: "ffmpeg", Preset: "veryfast", Passthrough: true,
		},
		Push: Push{Prefix: "live", Concurrency: 8, Backlog: 64},
		VOD: VOD{
			GRPCAddress: ":9090", HTTPAddress: ":8090", Prefix: "vod", MaxUploadSize: 20 << 30, PartSize: 8 << 20,
			UploadExpiry: 24 * time.Hour, Workers: 1, FFmpeg: "ffmpeg", FFprobe: "ffprobe", Preset: "veryfast",
			SegmentDuration: 4 * time.Second, Recordings: true, RecordingsOwner: "recordings", RecordingsVisibility: "private",
			CacheSize: 256 << 20,
		},
	}
}

// Load applies the YAML file at path (if path is not empty) and the environment over the defaults.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("reading config: %w", err)
		}
		if err := decodeYAML(b, &cfg); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func decodeYAML(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) { // an empty file
			return nil
		}
		return withYAMLSuggestions(err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document: put every setting in one")
	}
	return nil
}

// EnvPrefix starts every environment variable nagare reads.
const EnvPrefix = "NAGARE_"

// EnvName returns the environment variable for a YAML key path: camel case becomes upper snake case and a
// run of capitals is one word, e.g. hls.segmentDuration → NAGARE_HLS_SEGMENT_DURATION and
// manager.storeDSN → NAGARE_MANAGER_STORE_DSN.
func EnvName(keyPath string) string {
	var b strings.Builder
	b.WriteString(EnvPrefix)
	r := []rune(keyPath)
	for i, c := range r {
		switch {
		case c == '.':
			b.WriteByte('_')
			continue
		case unicode.IsUpper(c) && i > 0 && r[i-1] != '.':
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || (unicode.IsUpper(r[i-1]) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToUpper(c))
	}
	return b.String()
}

func applyEnv(cfg *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	known := map[string]string{} // env name → key path
	err := walk(reflect.ValueOf(cfg).Elem(), "", func(key string, v reflect.Value) error {
		name := EnvName(key)
		known[name] = key
		s, ok := env[name]
		if !ok {
			return nil
		}
		if err := setFromString(v, s); err != nil {
			return fmt.Errorf("%s (%s): %w", name, key, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var unknown []string
	for name := range env {
		if _, ok := known[name]; !ok && !ignoredEnv[name] {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown) // the same message however the environment is ordered
	errs := make([]error, len(unknown))
	for i, name := range unknown {
		errs[i] = unknownEnvError(name, known)
	}
	return errors.Join(errs...)
}

// ignoredEnv are NAGARE_* variables that are not settings.
var ignoredEnv = map[string]bool{"NAGARE_CONFIG": true, "NAGARE_DATA": true} // NAGARE_DATA: scripts/demo.sh's data directory

// walk calls fn for every leaf field with its YAML key path.
func walk(v reflect.Value, prefix string, fn func(key string, v reflect.Value) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			if err := walk(fv, key, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(key, fv); err != nil {
			return err
		}
	}
	return nil
}

func setFromString(v reflect.Value, s string) error {
	switch v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration (e.g. 500ms, 2s): %q", s)
		}
		v.SetInt(int64(d))
		return nil
	case []string:
		var list []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		v.Set(reflect.ValueOf(list))
		return nil
	case map[string]string:
		m := map[string]string{}
		if s != "" {
			for kv := range strings.SplitSeq(s, ",") {
				k, val, ok := strings.Cut(kv, "=")
				if !ok {
					return errors.New("want k1=v1,k2=v2")
				}
				m[strings.TrimSpace(k)] = strings.TrimSpace(val)
			}
		}
		v.Set(reflect.ValueOf(m))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

// maxConnections bounds the connection caps: a descriptor each, and few systems allow more.
const maxConnections = 1 << 20

// Validate checks the configuration; every error names the key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	c.TLS.validate(bad)
	if c.RTMPS.Enabled && !c.TLS.Enabled() {
		bad("rtmps.enabled", "RTMPS needs a certificate: set tls.certFile and tls.keyFile")
	}
	if p := c.SRT.Passphrase; p != "" && (len(p) < 10 || len(p) > 79) {
		bad("srt.passphrase", "must be 10 to 79 characters (SRT's rule), not %d", len(p))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json, not %q", c.Log.Format)
	}
	switch c.Node.Role {
	case "origin":
	case "edge", "relay":
		if c.Node.Parent == "" && c.Cluster.ManagerURL == "" {
			bad("node.parent", "an %s needs a parent URL (or cluster.managerURL, whose manager assigns one)", c.Node.Role)
		}
		if c.Node.Parent != "" {
			if _, ok := httpURL(c.Node.Parent); !ok {
				bad("node.parent", "must be an http(s) URL such as http://origin:8080, not %q", c.Node.Parent)
			}
		}
	case "transcoder":
		if c.Cluster.ManagerURL == "" {
			bad("cluster.managerURL", "a transcoder takes its streams from the manager's assignments: set the manager's URL")
		}
	default:
		bad("node.role", "must be origin, relay, edge or transcoder, not %q", c.Node.Role)
	}
	if c.Node.ShutdownTimeout <= 0 {
		bad("node.shutdownTimeout", "must be positive")
	}
	if c.Node.ReadTimeout < time.Second || c.Node.ReadTimeout > 5*time.Minute {
		bad("node.readTimeout", "must be between 1s and 5m, not %s", c.Node.ReadTimeout)
	}
	if c.Node.NotFoundTTL < 100*time.Millisecond || c.Node.NotFoundTTL > time.Minute {
		bad("node.notFoundTTL", "must be between 100ms and 1m, not %s", c.Node.NotFoundTTL)
	}
	if c.Node.MaxConnections < 1 || c.Node.MaxConnections > maxConnections {
		bad("node.maxConnections", "must be between 1 and %d, not %d", maxConnections, c.Node.MaxConnections)
	}
	for _, l := range []struct {
		key string
		Listen
	}{{"rtmp", c.RTMP}, {"rtmps", c.RTMPS}, {"srt", Listen{Enabled: c.SRT.Enabled, Address: c.SRT.Address}}, {"http", c.HTTP}} {
		if !l.Enabled {
			continue
		}
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			bad(l.key+".address", "must be host:port or :port, not %q", l.Address)
		}
	}
	if c.Node.Role == "origin" && !c.RTMP.Enabled && !c.RTMPS.Enabled && !c.SRT.Enabled && !c.WebRTC.Enabled {
		bad("rtmp.enabled", "at least one of rtmp, rtmps, srt and webrtc must be enabled")
	}
	c.validateWebRTC(bad)
	switch c.Storage.Backend {
	case "local":
		if c.Storage.Directory == "" {
			bad("storage.directory", "the local backend needs a directory")
		}
	case "s3":
		if c.Storage.Bucket == "" {
			bad("storage.bucket", "the s3 backend needs a bucket")
		}
	default:
		bad("storage.backend", "must be local or s3, not %q", c.Storage.Backend)
	}
	if c.Push.Concurrency < 1 || c.Push.Concurrency > 256 {
		bad("push.concurrency", "must be between 1 and 256, not %d", c.Push.Concurrency)
	}
	if c.Push.Backlog < 4 || c.Push.Backlog > 100000 {
		bad("push.backlog", "must be between 4 and 100000, not %d", c.Push.Backlog)
	}
	if c.Push.PublicRead && c.Storage.Backend != "s3" {
		bad("push.publicRead", "needs storage.backend s3 (a local directory is as public as the web server that serves it)")
	}
	if c.Push.CORS && c.Storage.Backend != "s3" {
		bad("push.cors", "needs storage.backend s3 (set CORS headers in the web server that serves the local directory)")
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"push.streams", c.Push.Streams}, {"record.streams", c.Record.Streams}, {"transcode.streams", c.Transcode.Streams}, {"manager.transcodeStreams", c.Manager.TranscodeStreams}} {
		for _, pat := range l.list {
			if pat == "*" {
				continue
			}
			app, name, ok := strings.Cut(pat, "/")
			if name == "*" {
				name = "x"
			}
			if _, err := stream.ParsePath(app + "/" + name); !ok || err != nil {
				bad(l.key, "%q is not app/stream, app/* or *", pat)
			}
		}
	}
	c.validateTranscode(bad)
	if c.Record.MP4 && c.HLS.Variant == "mpegts" {
		bad("record.mp4", "needs an fMP4 hls.variant (lowlatency or fmp4): MPEG-TS recordings are their .ts segments")
	}
	switch c.HLS.Variant {
	case "lowlatency", "fmp4", "mpegts":
	default:
		bad("hls.variant", "must be lowlatency, fmp4 or mpegts, not %q", c.HLS.Variant)
	}
	if c.HLS.SegmentDuration < 200*time.Millisecond || c.HLS.SegmentDuration > 30*time.Second {
		bad("hls.segmentDuration", "must be between 200ms and 30s, not %s", c.HLS.SegmentDuration)
	}
	if c.HLS.PartDuration < 50*time.Millisecond || c.HLS.PartDuration > c.HLS.SegmentDuration {
		bad("hls.partDuration", "must be between 50ms and hls.segmentDuration, not %s", c.HLS.PartDuration)
	}
	switch c.HLS.Storage {
	case "disk", "memory":
	default:
		bad("hls.storage", "must be disk or memory, not %q", c.HLS.Storage)
	}
	minCount := 3
	if c.HLS.Variant == "lowlatency" {
		minCount = 7
	}
	if c.HLS.SegmentCount < minCount || c.HLS.SegmentCount > 100 {
		bad("hls.segmentCount", "must be between %d and 100 for variant %s, not %d", minCount, c.HLS.Variant, c.HLS.SegmentCount)
	}
	for _, path := range slices.Sorted(maps.Keys(c.Publish.Keys)) {
		key := c.Publish.Keys[path]
		if app, name, ok := strings.Cut(path, "/"); !ok || !stream.ValidName(app) || !stream.ValidName(name) {
			bad("publish.keys", "%q is not <app>/<stream> with names of [A-Za-z0-9_-]{1,128}", path)
		}
		if len(key) < 8 {
			bad("publish.keys", "the key for %q is shorter than 8 characters", path)
		}
	}
	if c.Publish.TokenSecret != "" && len(c.Publish.TokenSecret) < 16 {
		bad("publish.tokenSecret", "must be at least 16 characters")
	}
	if c.Cluster.ManagerURL != "" {
		if _, ok := httpURL(c.Cluster.ManagerURL); !ok {
			bad("cluster.managerURL", "must be an http(s) URL such as http://manager:5080, not %q", c.Cluster.ManagerURL)
		}
		if len(c.Cluster.Secret) < 16 {
			bad("cluster.secret", "must be at least 16 characters when cluster.managerURL is set")
		}
	}
	return errors.Join(errs...)
}

func (c *Config) validateTranscode(bad func(key, format string, args ...any)) {
	t := c.Transcode
	if !t.Enabled {
		return
	}
	if t.FFmpeg == "" {
		bad("transcode.ffmpeg", "must name the ffmpeg binary")
	}
	if err := t.Ladder().Validate(); err != nil {
		bad("transcode.rungs", "%s", strings.TrimPrefix(err.Error(), ladder.ErrInvalid.Error()+": "))
	}
	for _, r := range t.Rungs {
		if stream.ReservedRung(r.Name) {
			bad("transcode.rungs", "rung %q: the name is the ladder's own (%q is the source's video, %q its audio)", r.Name, stream.SourceVideoRung, stream.AudioRung)
		}
		if r.VideoBitrate > maxBitrate || r.MaxRate > maxBitrate {
			bad("transcode.rungs", "rung %q: bit rates above %d bit/s are not video", r.Name, maxBitrate)
		}
		if r.Height > 4320 {
			bad("transcode.rungs", "rung %q: height %d is above 4320 (8K)", r.Name, r.Height)
		}
		if r.FrameRate > 240 {
			bad("transcode.rungs", "rung %q: frame rate %v is above 240", r.Name, r.FrameRate)
		}
	}
}

// maxBitrate bounds the bit rates of a rung (a typo of a few zeros is an error, not a 100 Gbit/s encode).
const maxBitrate = 200_000_000

func (c *Config) validateWebRTC(bad func(key, format string, args ...any)) {
	w := c.WebRTC
	if !w.Enabled || !c.HTTP.Enabled { // WHIP and WHEP are served on the HTTP port: off without it
		return
	}
	if _, _, err := net.SplitHostPort(w.Address); err != nil {
		bad("webrtc.address", "must be host:port or :port, not %q", w.Address)
	}
	for _, ip := range w.PublicIPs {
		if net.ParseIP(ip) == nil {
			bad("webrtc.publicIPs", "%q is not an IP address", ip)
		}
	}
	for _, u := range w.ICEServers {
		scheme, rest, _ := strings.Cut(u, ":")
		switch scheme {
		case "stun", "stuns", "turn", "turns":
		default:
			bad("webrtc.iceServers", "%q must be a stun:, stuns:, turn: or turns: URL", u)
		}
		if rest == "" {
			bad("webrtc.iceServers", "%q names no host", u)
		}
		if (scheme == "turn" || scheme == "turns") && (w.ICEUsername == "" || w.ICECredential == "") {
			bad("webrtc.iceUsername", "a TURN server (%s) needs webrtc.iceUsername and webrtc.iceCredential", u)
		}
	}
	if w.ConnectTimeout < time.Second || w.ConnectTimeout > 5*time.Minute {
		bad("webrtc.connectTimeout", "must be between 1s and 5m, not %s", w.ConnectTimeout)
	}
	if w.MaxSessions < 1 || w.MaxSessions > maxConnections {
		bad("webrtc.maxSessions", "must be between 1 and %d, not %d", maxConnections, w.MaxSessions)
	}
	switch w.HLSAudio {
	case "aac", "opus":
	default:
		bad("webrtc.hlsAudio", "must be aac or opus, not %q", w.HLSAudio)
	}
	if w.HLSAudio == "aac" && w.FFmpeg == "" {
		bad("webrtc.hlsAudio", "aac needs webrtc.ffmpeg (or set opus)")
	}
	if w.OffersPerMinute < 0 {
		bad("webrtc.offersPerMinute", "must be 0 (unbounded) or more, not %d", w.OffersPerMinute)
	}
}

// ValidateManager checks the settings the stream manager needs; every error names the key.
func (c *Config) ValidateManager() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c.TLS.validate(bad)
	m := c.Manager
	if _, _, err := net.SplitHostPort(m.Address); err != nil {
		bad("manager.address", "must be host:port or :port, not %q", m.Address)
	}
	switch m.StoreEngine {
	case "sqlite", "mysql":
	default:
		bad("manager.storeEngine", "must be sqlite or mysql, not %q", m.StoreEngine)
	}
	if m.StoreDSN == "" {
		bad("manager.storeDSN", "must name the SQLite file or the MySQL DSN")
	}
	if len(m.AdminToken) < 16 {
		bad("manager.adminToken", "must be at least 16 characters")
	}
	if len(c.Cluster.Secret) < 16 {
		bad("cluster.secret", "must be at least 16 characters")
	}
	if m.ReportInterval < time.Second || m.ReportInterval > 30*time.Second {
		bad("manager.reportInterval", "must be between 1s and 30s, not %s", m.ReportInterval)
	}
	if m.NodeTimeout < 2*m.ReportInterval {
		bad("manager.nodeTimeout", "must be at least twice manager.reportInterval, not %s", m.NodeTimeout)
	}
	if m.ReadTimeout < 100*time.Millisecond || m.ReadTimeout > 5*time.Minute {
		bad("manager.readTimeout", "must be between 100ms and 5m, not %s", m.ReadTimeout)
	}
	if m.StoreTimeout < 100*time.Millisecond || m.StoreTimeout > time.Minute {
		bad("manager.storeTimeout", "must be between 100ms and 1m, not %s", m.StoreTimeout)
	}
	if m.MaxConnections < 1 || m.MaxConnections > maxConnections {
		bad("manager.maxConnections", "must be between 1 and %d, not %d", maxConnections, m.MaxConnections)
	}
	for _, w := range []struct {
		key string
		v   float64
	}{{"manager.weightStreams", m.WeightStreams}, {"manager.weightConnections", m.WeightConnections},
		{"manager.weightSubscribers", m.WeightSubscribers}, {"manager.weightMemory", m.WeightMemory},
		{"manager.weightRestreamer", m.WeightRestreamer}} {
		if w.v < 0 || w.v > 1000 {
			bad(w.key, "must be between 0 and 1000, not %g", w.v)
		}
	}
	if st := m.Steering; st.Enabled {
		if st.TTL < time.Second || st.TTL > 5*time.Minute || st.TTL%time.Second != 0 {
			bad("manager.steering.ttl", "must be whole seconds between 1s and 5m, not %s", st.TTL)
		}
		if st.PublicURL != "" {
			if _, ok := httpURL(st.PublicURL); !ok {
				bad("manager.steering.publicURL", "must be an http(s) URL, not %q", st.PublicURL)
			}
		}
		if cdn := st.CDN; cdn.URL != "" {
			if u, ok := httpURL(cdn.URL); !ok || u.RawQuery != "" || u.Fragment != "" {
				bad("manager.steering.cdn.url", "must be an http(s) URL without a query, not %q", cdn.URL)
			}
			if cdn.Playlist != "index.m3u8" && cdn.Playlist != "index_ll.m3u8" {
				bad("manager.steering.cdn.playlist", "must be index.m3u8 or index_ll.m3u8, not %q", cdn.Playlist)
			}
		}
	}
	a := m.Autoscale
	if a.Interval < 100*time.Millisecond || a.Interval > time.Minute {
		bad("manager.autoscale.interval", "must be between 100ms and 1m, not %s", a.Interval)
	}
	if a.LowWater < 0 || a.LowWater >= 100 {
		bad("manager.autoscale.lowWater", "must be a percentage in [0, 100), not %d", a.LowWater)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"manager.autoscale.warmUp", a.WarmUp}, {"manager.autoscale.coolDown", a.CoolDown},
		{"manager.autoscale.drainTimeout", a.DrainTimeout}} {
		if d.v < 0 {
			bad(d.key, "must not be negative, not %s", d.v)
		}
	}
	if a.LeaseTTL < 2*a.Interval {
		bad("manager.autoscale.leaseTTL", "must be at least twice manager.autoscale.interval, not %s", a.LeaseTTL)
	}
	if a.ManagerURL != "" {
		if _, ok := httpURL(a.ManagerURL); !ok {
			bad("manager.autoscale.managerURL", "must be an http(s) URL, not %q", a.ManagerURL)
		}
	}
	return errors.Join(errs...)
}

// ValidateVOD checks the settings the VOD service needs; every error names the key.
func (c *Config) ValidateVOD() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c.TLS.validate(bad)
	v := c.VOD
	for _, a := range []struct{ key, v string }{{"vod.grpcAddress", v.GRPCAddress}, {"vod.httpAddress", v.HTTPAddress}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			bad(a.key, "must be host:port or :port, not %q", a.v)
		}
	}
	if v.PublicURL != "" {
		if _, ok := httpURL(v.PublicURL); !ok {
			bad("vod.publicURL", "must be an http(s) URL, not %q", v.PublicURL)
		}
	}
	switch v.StoreEngine {
	case "", "sqlite", "mysql":
	default:
		bad("vod.storeEngine", "must be sqlite or mysql, not %q", v.StoreEngine)
	}
	if len(c.Manager.AdminToken) < 16 {
		bad("manager.adminToken", "must be at least 16 characters (it is the VOD service's admin token too)")
	}
	if len(v.TokenSecret) < 16 {
		bad("vod.tokenSecret", "must be at least 16 characters")
	}
	if v.Prefix == "" || strings.ContainsAny(v.Prefix, "\\.") || strings.HasPrefix(v.Prefix, "/") || strings.HasSuffix(v.Prefix, "/") {
		bad("vod.prefix", "must be a key prefix without leading or trailing /, dots or backslashes, not %q", v.Prefix)
	}
	if v.MaxUploadSize < 1 {
		bad("vod.maxUploadSize", "must be positive, not %d", v.MaxUploadSize)
	}
	if v.Quota < 0 {
		bad("vod.quota", "must not be negative (0 = no quota), not %d", v.Quota)
	}
	if v.CacheSize < 0 {
		bad("vod.cacheSize", "must not be negative (0 = no cache), not %d", v.CacheSize)
	}
	if v.PartSize < 5<<20 || v.PartSize > 512<<20 {
		bad("vod.partSize", "must be between 5 MiB (5242880) and 512 MiB, not %d", v.PartSize)
	}
	if v.UploadExpiry < time.Minute {
		bad("vod.uploadExpiry", "must be at least 1m, not %s", v.UploadExpiry)
	}
	if v.Workers < 1 || v.Workers > 64 {
		bad("vod.workers", "must be between 1 and 64, not %d", v.Workers)
	}
	if v.SegmentDuration < time.Second || v.SegmentDuration > 30*time.Second {
		bad("vod.segmentDuration", "must be between 1s and 30s, not %s", v.SegmentDuration)
	}
	switch v.RecordingsVisibility {
	case "private", "unlisted", "public":
	default:
		bad("vod.recordingsVisibility", "must be private, unlisted or public, not %q", v.RecordingsVisibility)
	}
	return errors.Join(errs...)
}

// httpURL parses s and reports whether it is an absolute http(s) URL with a host.
func httpURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}
