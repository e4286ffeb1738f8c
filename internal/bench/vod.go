package bench

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/objstore/blockcache"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// The VOD benchmark: a `nagare vod` child process storing in a versitygw bucket, measured against the tools
// one would use without it, on the same gateway and machine: `aws s3 cp` for uploads, static nginx for
// byte ranges. scripts/bench.sh starts the gateway and nginx; this command starts the service.

const (
	vodBenchToken  = "bench-vod-admin-token-0123456789"
	vodBenchSecret = "bench-vod-token-secret-0123456789"
	// vodChunk is the size of the Upload messages (the service takes at most 1 MiB).
	vodChunk = 1 << 20
	// vodRange is the size of the byte ranges asked for by wrk.
	vodRange = 1 << 20
	// rssEvery is how often the service's VmRSS is sampled.
	rssEvery = 50 * time.Millisecond
)

// Targets of the VOD section.
const (
	targetUploadShare = 80.0 // % of aws s3 cp's MB/s
	targetUploadRSS   = 64.0 // MiB above idle
	targetRangeShare  = 50.0 // % of static nginx's req/s
)

// VODResult is the output of `nagare bench vod`.
type VODResult struct {
	Date      string  `json:"date"`
	LoadStart string  `json:"loadStart"`
	LoadEnd   string  `json:"loadEnd"`
	Seconds   float64 `json:"seconds"` // the whole command
	// Flags are the settings of the run that shape the figures (not the locations of servers and files).
	Flags   VODFlags          `json:"flags"`
	Tools   map[string]string `json:"tools"` // versions: aws-cli, versitygw
	Upload  VODUpload         `json:"upload"`
	Range   VODRange          `json:"range"`
	Process VODProcess        `json:"transcode"`
}

// VODFlags are the flags of the run that appear in the report's command line.
type VODFlags struct {
	Size        int64   `json:"size"`
	Rounds      int     `json:"rounds"`
	Conns       int     `json:"conns"`
	Threads     int     `json:"threads"`
	DurationS   float64 `json:"durationS"`
	RangeRounds int     `json:"rangeRounds"`
}

// VODUpload is the upload throughput part.
type VODUpload struct {
	Bytes int64          `json:"bytes"`
	Runs  []VODUploadRun `json:"runs"`
	// AWSStartS is the median time of `aws s3 cp` of a one-byte file: the CLI's start-up and one request.
	AWSStartS float64 `json:"awsStartS"`
	// Outcome is how processing of the nagare uploads ended (they are not videos past their first bytes).
	Outcome string `json:"outcome"`
	// PartSize and PartsInFlight are the service's settings for uploads.
	PartSizeMiB int `json:"partSizeMiB"`
}

// VODUploadRun is one upload of the file.
type VODUploadRun struct {
	Round   int     `json:"round"`
	Client  string  `json:"client"` // nagare or aws-cli
	Seconds float64 `json:"seconds"`
	// IdleRSSMiB is the service's VmRSS before its first upload, BeforeRSSMiB just before this one (each the
	// median of 1 s of samples: the Go runtime returns freed memory to the system slowly, so after an upload
	// this stays high), PeakRSSMiB the highest sample during it (every 50 ms); nagare runs only.
	IdleRSSMiB   float64 `json:"idleRssMiB,omitempty"`
	BeforeRSSMiB float64 `json:"beforeRssMiB,omitempty"`
	PeakRSSMiB   float64 `json:"peakRssMiB,omitempty"`
	Samples      int     `json:"samples,omitempty"`
	// Usage is the VOD service's over the upload (for aws-cli's too, when it idles); its OthersCPUPercent
	// leaves out the gateway, whose CPU is GatewayCPUPercent (% of one core).
	Usage             Usage   `json:"usage"`
	GatewayCPUPercent float64 `json:"gatewayCpuPercent"`
}

// MBps is the run's throughput in MB/s (10^6 bytes), over the whole wall time.
func (r VODUploadRun) MBps(size int64) float64 { return float64(size) / 1e6 / r.Seconds }

// VODRange is the byte-range part.
type VODRange struct {
	FileBytes int64         `json:"fileBytes"`
	Range     int64         `json:"range"`
	Runs      []VODRangeRun `json:"runs"`
	// Cache is the playback cache's settings and counters over the service's whole run (nil: a run from
	// before the cache, or a service that logged none).
	Cache *VODCache `json:"cache,omitempty"`
}

// VODCache is what the service's "vod playback cache" log line, written when it stops, says of its
// playback cache (blockcache.Stats), with the settings it ran with.
type VODCache struct {
	SizeBytes  int64 `json:"sizeBytes"`
	BlockBytes int64 `json:"blockBytes"`
	// Hits, Misses and Waits are block reads: from memory, fetched from the gateway, or waiting for
	// another request's fetch.
	Hits         int64 `json:"hits"`
	Misses       int64 `json:"misses"`
	Waits        int64 `json:"waits"`
	Fetches      int64 `json:"fetches"` // ranged GETs of the gateway for blocks
	FetchedBytes int64 `json:"fetchedBytes"`
	Bypasses     int64 `json:"bypasses"` // reads passed to the gateway whole
	HeadHits     int64 `json:"headHits"`
	HeadMisses   int64 `json:"headMisses"` // HEADs asked of the gateway
	Evictions    int64 `json:"evictions"`
}

// HitPercent is the share of block reads served from memory.
func (c VODCache) HitPercent() float64 {
	return 100 * float64(c.Hits) / float64(c.Hits+c.Misses+c.Waits)
}

var vodCacheLine = regexp.MustCompile(`msg="vod playback cache" (.*)`)

// parseVODCache reads the cache's counters from the service's log (nil when it has no such line).
func parseVODCache(logText string) *VODCache {
	m := vodCacheLine.FindAllStringSubmatch(logText, -1)
	if m == nil {
		return nil
	}
	kv := map[string]int64{}
	for f := range strings.FieldsSeq(m[len(m)-1][1]) {
		if k, v, ok := strings.Cut(f, "="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				kv[k] = n
			}
		}
	}
	return &VODCache{
		SizeBytes: config.Default().VOD.CacheSize, BlockBytes: blockcache.DefaultBlockSize,
		Hits: kv["hits"], Misses: kv["misses"], Waits: kv["waits"], Fetches: kv["fetches"], FetchedBytes: kv["fetchedBytes"],
		Bypasses: kv["bypasses"], HeadHits: kv["headHits"], HeadMisses: kv["headMisses"], Evictions: kv["evictions"],
	}
}

// VODRangeRun is one wrk run of byte ranges (Server: nagare-vod or static); Usage.OthersCPUPercent leaves
// out the gateway, whose CPU is GatewayCPUPercent.
type VODRangeRun struct {
	FanoutRun
	GatewayCPUPercent float64 `json:"gatewayCpuPercent"`
}

// VODProcess is the transcode part.
type VODProcess struct {
	ClipBytes    int64    `json:"clipBytes"`
	DurationS    float64  `json:"durationS"` // as probed by the service
	Width        int      `json:"width"`
	Height       int      `json:"height"`
	VideoCodec   string   `json:"videoCodec"`
	AudioCodec   string   `json:"audioCodec"`
	UploadS      float64  `json:"uploadS"`   // the clip's upload, start to complete
	ReadyS       float64  `json:"readyS"`    // upload complete → GetVideo says READY
	PlayableS    float64  `json:"playableS"` // last byte sent → the HLS playlist, a media playlist and its first segment answer 200
	MP4PlayableS float64  `json:"mp4PlayableS"`
	Renditions   []string `json:"renditions"`
	// ServiceCPUPercent is the VOD service's CPU with its ffmpeg and ffprobe processes from upload complete to
	// READY, OthersCPUPercent the rest of the machine's (the gateway's included), both % of one core.
	ServiceCPUPercent float64 `json:"serviceCpuPercent"`
	OthersCPUPercent  float64 `json:"othersCpuPercent"`
	Preset            string  `json:"preset"`
	SegmentDuration   string  `json:"segmentDuration"`
	Workers           int     `json:"workers"`
}

// Speed is the transcode speed as a multiple of real time.
func (p VODProcess) Speed() float64 { return p.DurationS / p.ReadyS }

// cmdVOD measures the VOD service: upload throughput and memory against aws s3 cp, 1 MiB byte ranges of a
// processed MP4 against static nginx, and the transcode speed of the default ladder.
func cmdVOD(ctx context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("vod", stderr)
	bin := fs.String("bin", "", "nagare binary to run `nagare vod` from (default: this one)")
	endpoint := fs.String("s3", "", "S3 endpoint of the gateway, e.g. http://127.0.0.1:7070 (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
	bucket := fs.String("bucket", "nagare-vod", "bucket the service stores in, existing")
	gateway := fs.String("gateway", "", "the gateway's binary, for its version in the report (optional)")
	gatewayPID := fs.Int("gateway-pid", 0, "the gateway's pid, to meter it apart from the other processes (optional)")
	awsBin := fs.String("aws", "aws", "aws-cli")
	clipPath := fs.String("clip", "", "H.264/AAC MP4 to process and serve byte ranges of")
	size := fs.String("size", "1GiB", "size of the uploaded file (e.g. 1GiB, 256MiB)")
	rounds := fs.Int("rounds", 2, "uploads by each client, taking turns")
	staticURL := fs.String("static-url", "", "base URL of a static nginx serving -static-www")
	staticWWW := fs.String("static-www", "", "root directory of that nginx")
	staticPID := fs.Int("static-pid", 0, "pid of that nginx (its master; workers are counted)")
	conns := fs.Int("conns", 64, "wrk connections")
	threads := fs.Int("threads", 2, "wrk threads")
	d := fs.Duration("duration", 10*time.Second, "length of each wrk run (whole seconds)")
	rangeRounds := fs.Int("range-rounds", 2, "wrk runs against each server, taking turns")
	dir := fs.String("dir", "", "work directory for the file, the service's store and its jobs (default: a new temp directory)")
	logPath := fs.String("log", "", "file for the service's log (default: in -dir)")
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, err := parseSize(*size)
	switch {
	case err != nil:
		return usageErr("-size: %v", err)
	case *endpoint == "" || *clipPath == "" || *staticURL == "" || *staticWWW == "" || *staticPID <= 0 || *out == "":
		return usageErr("-s3, -clip, -static-url, -static-www, -static-pid and -out are required")
	case os.Getenv("AWS_ACCESS_KEY_ID") == "" || os.Getenv("AWS_SECRET_ACCESS_KEY") == "":
		return usageErr("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must hold the gateway's credentials")
	case n < 1<<20:
		return usageErr("-size must be at least 1MiB")
	case *rounds < 1 || *rangeRounds < 1 || *conns < 1 || *threads < 1 || *d < time.Second:
		return usageErr("-rounds, -range-rounds, -conns and -threads must be at least 1, -duration at least 1s")
	}
	exe := *bin
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "nagare-bench-vod-"); err != nil {
			return err
		}
		defer os.RemoveAll(*dir)
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	if *logPath == "" {
		*logPath = filepath.Join(*dir, "vod.log")
	}

	t0 := time.Now()
	res := &VODResult{
		LoadStart: loadAvg(readFile("/proc/loadavg")),
		Flags:     VODFlags{Size: n, Rounds: *rounds, Conns: *conns, Threads: *threads, DurationS: d.Seconds(), RangeRounds: *rangeRounds},
		Tools:     map[string]string{"aws-cli": firstLine(command(*awsBin, "--version"))},
	}
	if *gateway != "" {
		if bi, err := buildinfo.ReadFile(*gateway); err == nil {
			res.Tools["versitygw"] = bi.Main.Version
		}
	}
	s3 := s3Target{Endpoint: strings.TrimSuffix(*endpoint, "/"), Bucket: *bucket, AWS: *awsBin,
		KeyID: os.Getenv("AWS_ACCESS_KEY_ID"), Secret: os.Getenv("AWS_SECRET_ACCESS_KEY"), Home: filepath.Join(*dir, "aws")}
	svc, err := startVODService(exe, s3, *dir, *logPath, stderr)
	if err != nil {
		return err
	}
	defer svc.stop()
	log.Info("vod service started", "grpc", svc.grpc, "http", svc.http, "pid", svc.cmd.Process.Pid)
	b := &vodBench{svc: svc, s3: s3, log: log, dir: *dir, gatewayPID: *gatewayPID}
	if b.conn, err = grpc.NewClient(svc.grpc, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return err
	}
	defer b.conn.Close()
	b.client = vodv1.NewVideoServiceClient(b.conn)
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+vodBenchToken)

	// Uploads first, on the fresh process: its idle memory is not yet what serving left behind.
	if res.Upload, err = b.uploads(ctx, *clipPath, n, *rounds); err != nil {
		return fmt.Errorf("uploads: %w", err)
	}
	id, proc, err := b.transcode(ctx, *clipPath)
	if err != nil {
		return fmt.Errorf("transcode: %w", err)
	}
	res.Process = proc
	if res.Range, err = b.ranges(ctx, id, staticTarget{URL: strings.TrimSuffix(*staticURL, "/"), WWW: *staticWWW, PID: *staticPID},
		*conns, *threads, *d, *rangeRounds); err != nil {
		return fmt.Errorf("byte ranges: %w", err)
	}
	// The service logs its playback cache's counters when it stops.
	svc.stop()
	res.Range.Cache = parseVODCache(readFile(*logPath))
	res.LoadEnd = loadAvg(readFile("/proc/loadavg"))
	res.Date = time.Now().UTC().Format("2006-01-02 15:04 MST")
	res.Seconds = time.Since(t0).Seconds()
	return writeJSON(*out, res)
}

// parseSize reads a byte count: an integer with an optional KiB, MiB, GiB (or K, M, G, also powers of 1024)
// suffix.
func parseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = v, u.mult
			break
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || v < 1 || v > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive size such as 1GiB or 256MiB, not %q", s)
	}
	return v * mult, nil
}

// s3Target is the gateway and bucket, and how to run aws-cli against it.
type s3Target struct {
	Endpoint, Bucket, AWS, KeyID, Secret string
	// Home holds an empty aws-cli configuration, so that a user's ~/.aws does not change its settings.
	Home string
}

// awsCmd is aws-cli with the gateway's credentials and its default settings.
func (s s3Target) awsCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.AWS, append([]string{"--endpoint-url", s.Endpoint}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s.KeyID, "AWS_SECRET_ACCESS_KEY="+s.Secret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(s.Home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(s.Home, "credentials"))
	return cmd
}

// vodService is a `nagare vod` child process.
type vodService struct {
	cmd        *exec.Cmd
	done       chan struct{}
	grpc, http string
	logFile    *os.File
	stopOnce   sync.Once
}

var vodRunning = regexp.MustCompile(`msg="vod service running" grpc=(\S+) http=(\S+)`)

func startVODService(exe string, s3 s3Target, dir, logPath string, stderr io.Writer) (*vodService, error) {
	work := filepath.Join(dir, "jobs")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "vod")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) { // the service runs on the settings below only
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NAGARE_LOG_LEVEL=info", "NAGARE_LOG_FORMAT=text",
		"NAGARE_VOD_GRPC_ADDRESS=127.0.0.1:0", "NAGARE_VOD_HTTP_ADDRESS=127.0.0.1:0",
		"NAGARE_VOD_STORE_ENGINE=sqlite", "NAGARE_VOD_STORE_DSN="+filepath.Join(dir, "vod.db"),
		"NAGARE_MANAGER_ADMIN_TOKEN="+vodBenchToken, "NAGARE_VOD_TOKEN_SECRET="+vodBenchSecret,
		"NAGARE_VOD_RECORDINGS=false", "NAGARE_VOD_WORK_DIR="+work,
		"NAGARE_STORAGE_BACKEND=s3", "NAGARE_STORAGE_ENDPOINT="+s3.Endpoint, "NAGARE_STORAGE_REGION=us-east-1",
		"NAGARE_STORAGE_BUCKET="+s3.Bucket, "NAGARE_STORAGE_PATH_STYLE=true",
		"NAGARE_STORAGE_ACCESS_KEY_ID="+s3.KeyID, "NAGARE_STORAGE_SECRET_ACCESS_KEY="+s3.Secret)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		lf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting the VOD service: %w", err)
	}
	s := &vodService{cmd: cmd, done: make(chan struct{}), logFile: lf}
	addrs := make(chan []string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lf, line)
			if m := vodRunning.FindStringSubmatch(line); m != nil {
				addrs <- m[1:]
			} else if strings.Contains(line, "level=ERROR") {
				fmt.Fprintln(stderr, "vod:", line)
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case a := <-addrs:
		s.grpc, s.http = a[0], "http://"+a[1]
		return s, nil
	case <-s.done:
		lf.Close()
		return nil, fmt.Errorf("the VOD service exited before it was running; see %s", logPath)
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("the VOD service did not start; see %s", logPath)
	}
}

// stop interrupts the service and waits for its log to be written; it may be called more than once.
func (s *vodService) stop() {
	s.stopOnce.Do(func() {
		interrupt(s.cmd, s.done, 20*time.Second)
		s.logFile.Close()
	})
}

type vodBench struct {
	svc    *vodService
	s3     s3Target
	conn   *grpc.ClientConn
	client vodv1.VideoServiceClient
	log    *slog.Logger
	dir    string
	// gatewayPID is metered apart from the other processes (0: it is one of them).
	gatewayPID int
}

// gatewayCPU is the gateway's CPU seconds so far (0 when it is not known).
func (b *vodBench) gatewayCPU() float64 {
	if b.gatewayPID <= 0 {
		return 0
	}
	cpu, _, _, err := treeUsage(b.gatewayPID)
	if err != nil {
		return 0
	}
	return cpu
}

// metered runs f while metering the VOD service and the gateway.
func (b *vodBench) metered(f func() error) (Usage, float64, error) {
	m, err := startMeter(b.svc.cmd.Process.Pid, 250*time.Millisecond)
	if err != nil {
		return Usage{}, 0, err
	}
	gw0 := b.gatewayCPU()
	ferr := f()
	u, err := m.stop()
	gw := 100 * (b.gatewayCPU() - gw0) / u.Seconds
	u.OthersCPUPercent -= gw
	return u, gw, errors.Join(ferr, err)
}

// uploads times uploads of a size-byte file by nagare's gRPC Upload and by aws s3 cp into the same bucket,
// rounds times each, alternating which goes first.
func (b *vodBench) uploads(ctx context.Context, clipPath string, size int64, rounds int) (VODUpload, error) {
	up := VODUpload{Bytes: size, PartSizeMiB: int(config.Default().VOD.PartSize >> 20)}
	file := filepath.Join(b.dir, "upload.mp4")
	if err := writeUploadFile(file, clipPath, size); err != nil {
		return up, err
	}
	defer os.Remove(file)
	start, err := b.awsStart(ctx)
	if err != nil {
		return up, err
	}
	up.AWSStartS = start
	idle, err := idleRSS(ctx, b.svc.cmd.Process.Pid, time.Second)
	if err != nil {
		return up, err
	}
	var outcomes []string
	for round := 1; round <= rounds; round++ {
		clients := []string{"aws-cli", KindNagare}
		if round%2 == 0 {
			slices.Reverse(clients)
		}
		for _, c := range clients {
			var run VODUploadRun
			var err error
			if c == KindNagare {
				var outcome string
				run, outcome, err = b.nagareUpload(ctx, file, size, idle)
				outcomes = append(outcomes, outcome)
			} else {
				run, err = b.awsUpload(ctx, file, round)
			}
			if err != nil {
				return up, fmt.Errorf("%s, round %d: %w", c, round, err)
			}
			run.Round, run.Client = round, c
			b.log.Info("upload", "round", round, "client", c, "seconds", run.Seconds, "MBps", run.MBps(size),
				"idleRssMiB", run.IdleRSSMiB, "peakRssMiB", run.PeakRSSMiB, "othersCpuPercent", run.Usage.OthersCPUPercent)
			up.Runs = append(up.Runs, run)
		}
	}
	slices.Sort(outcomes)
	up.Outcome = strings.Join(slices.Compact(outcomes), "; ")
	return up, nil
}

// writeUploadFile writes size bytes: the ftyp box of the clip (a real MP4's first box, which the service's
// container sniffing accepts), then pseudo-random bytes, which nothing on the way can compress.
func writeUploadFile(path, clipPath string, size int64) error {
	clip, err := os.Open(clipPath)
	if err != nil {
		return err
	}
	head := make([]byte, 64)
	_, err = io.ReadFull(clip, head)
	clip.Close()
	if err != nil {
		return fmt.Errorf("reading %s: %w", clipPath, err)
	}
	box := int(binary.BigEndian.Uint32(head))
	if string(head[4:8]) != "ftyp" || box < 8 || box > len(head) {
		return fmt.Errorf("%s does not start with an ftyp box of at most %d bytes", clipPath, len(head))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 4<<20)
	_, _ = w.Write(head[:box])
	rng := rand.NewChaCha8([32]byte{'n', 'a', 'g', 'a', 'r', 'e'})
	buf := make([]byte, 4<<20)
	for left := size - int64(box); left > 0; {
		n := min(int64(len(buf)), left)
		_, _ = rng.Read(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// awsStart is the median time of three `aws s3 cp` of a one-byte file: what the CLI takes besides moving
// the bytes.
func (b *vodBench) awsStart(ctx context.Context) (float64, error) {
	tiny := filepath.Join(b.dir, "tiny")
	if err := os.WriteFile(tiny, []byte{0}, 0o644); err != nil {
		return 0, err
	}
	defer os.Remove(tiny)
	var ts []float64
	for range 3 {
		t0 := time.Now()
		if out, err := b.s3.awsCmd(ctx, "s3", "cp", "--only-show-errors", tiny, "s3://"+b.s3.Bucket+"/bench/tiny").CombinedOutput(); err != nil {
			return 0, fmt.Errorf("aws s3 cp: %w: %s", err, out)
		}
		ts = append(ts, time.Since(t0).Seconds())
	}
	slices.Sort(ts)
	return ts[1], nil
}

func (b *vodBench) awsUpload(ctx context.Context, file string, round int) (VODUploadRun, error) {
	key := fmt.Sprintf("s3://%s/bench/aws-cli-%d.mp4", b.s3.Bucket, round)
	var el time.Duration
	usage, gw, err := b.metered(func() error {
		t0 := time.Now()
		out, err := b.s3.awsCmd(ctx, "s3", "cp", "--only-show-errors", "--no-progress", file, key).CombinedOutput()
		el = time.Since(t0)
		if err != nil {
			return fmt.Errorf("aws s3 cp: %w: %s", err, out)
		}
		return nil
	})
	if err != nil {
		return VODUploadRun{}, err
	}
	// the object is not needed: removing it keeps the gateway's directory from filling the disk
	if out, err := b.s3.awsCmd(ctx, "s3", "rm", "--only-show-errors", key).CombinedOutput(); err != nil {
		return VODUploadRun{}, fmt.Errorf("aws s3 rm: %w: %s", err, out)
	}
	return VODUploadRun{Seconds: el.Seconds(), Usage: usage, GatewayCPUPercent: gw}, nil
}

// nagareUpload uploads file over gRPC while sampling the service's memory (idle: its VmRSS before any upload), then waits for its processing to
// end (it fails: the file is no video past its first box) and deletes the video. outcome says how
// processing ended.
func (b *vodBench) nagareUpload(ctx context.Context, file string, size int64, idle uint64) (run VODUploadRun, outcome string, err error) {
	pid := b.svc.cmd.Process.Pid
	before, err := idleRSS(ctx, pid, time.Second)
	if err != nil {
		return run, "", err
	}
	sampler := startRSSSampler(pid)
	var (
		r  uploadResult
		el time.Duration
	)
	usage, gw, err := b.metered(func() error {
		t0 := time.Now()
		var err error
		r, err = b.upload(ctx, file, size, "bench.mp4", vodv1.Visibility_VISIBILITY_PRIVATE)
		el = time.Since(t0)
		return err
	})
	peak, samples := sampler.stop()
	if err != nil {
		return run, "", err
	}
	run = VODUploadRun{Seconds: el.Seconds(), IdleRSSMiB: mib(idle), BeforeRSSMiB: mib(before), PeakRSSMiB: mib(peak), Samples: samples,
		Usage: usage, GatewayCPUPercent: gw}
	// processing must be over before anything else is measured: it reads the whole upload back
	v, err := b.waitProcessed(ctx, r.id, 3*time.Minute)
	if err != nil {
		return run, "", err
	}
	outcome = "status " + strings.TrimPrefix(v.Status.String(), "STATUS_")
	if v.Failure != "" {
		// the job's directory differs from upload to upload
		outcome += ": " + regexp.MustCompile(`(file:)?`+regexp.QuoteMeta(b.dir)+`/\S*/source`).ReplaceAllString(v.Failure, "the upload")
	}
	if _, err := b.client.DeleteVideo(ctx, &vodv1.DeleteVideoRequest{Id: r.id}); err != nil {
		return run, "", fmt.Errorf("deleting the upload: %w", err)
	}
	return run, outcome, nil
}

// uploadResult is an upload over gRPC: its id, when the last chunk had been handed to gRPC, when the
// service answered that the upload was complete.
type uploadResult struct {
	id                 string
	lastByte, complete time.Time
}

func (b *vodBench) upload(ctx context.Context, file string, size int64, name string, vis vodv1.Visibility) (uploadResult, error) {
	var r uploadResult
	f, err := os.Open(file)
	if err != nil {
		return r, err
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := b.client.Upload(ctx)
	if err != nil {
		return r, err
	}
	err = stream.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Start{Start: &vodv1.UploadStart{
		Title: "bench", FileName: name, Size: size, Visibility: vis}}})
	// gRPC has encoded a message when Send returns, so the buffer is reused
	buf := make([]byte, vodChunk)
	for sent := int64(0); err == nil && sent < size; {
		var n int
		n, err = io.ReadFull(f, buf[:min(int64(len(buf)), size-sent)])
		if err == nil {
			err = stream.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: buf[:n]}})
			sent += int64(n)
		}
	}
	r.lastByte = time.Now()
	if err != nil && !errors.Is(err, io.EOF) { // io.EOF: the service ended the stream; CloseAndRecv has its status
		return r, err
	}
	res, err := stream.CloseAndRecv()
	r.complete = time.Now()
	if err != nil {
		return r, err
	}
	if !res.Complete || res.CommittedSize != size {
		return r, fmt.Errorf("upload %s not complete: %d of %d bytes committed", res.UploadId, res.CommittedSize, size)
	}
	r.id = res.UploadId
	return r, nil
}

// waitProcessed polls the video until processing ends, READY or FAILED.
func (b *vodBench) waitProcessed(ctx context.Context, id string, limit time.Duration) (*vodv1.Video, error) {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		v, err := b.client.GetVideo(wctx, &vodv1.GetVideoRequest{Id: id})
		if err != nil {
			return nil, fmt.Errorf("waiting for video %s to be processed: %w", id, err)
		}
		if v.Status == vodv1.Status_STATUS_READY || v.Status == vodv1.Status_STATUS_FAILED {
			return v, nil
		}
		if err := sleepCtx(wctx, rssEvery); err != nil {
			return nil, fmt.Errorf("waiting for video %s to be processed (%s, %d %%): %w", id, v.Status, v.Progress, err)
		}
	}
}

// vmRSS reads VmRSS of /proc/<pid>/status, in bytes.
func vmRSS(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseUint(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// idleRSS is the median of VmRSS sampled every rssEvery for d.
func idleRSS(ctx context.Context, pid int, d time.Duration) (uint64, error) {
	var samples []uint64
	for end := time.Now().Add(d); time.Now().Before(end); {
		v, err := vmRSS(pid)
		if err != nil {
			return 0, err
		}
		samples = append(samples, v)
		if err := sleepCtx(ctx, rssEvery); err != nil {
			return 0, err
		}
	}
	slices.Sort(samples)
	return samples[len(samples)/2], nil
}

// rssSampler keeps the highest VmRSS of a process sampled every rssEvery.
type rssSampler struct {
	pid     int
	peak    uint64
	n       int
	stopped chan struct{}
	done    chan struct{}
}

func startRSSSampler(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stopped: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stopped:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	if v, err := vmRSS(s.pid); err == nil {
		s.peak = max(s.peak, v)
		s.n++
	}
}

// stop returns the peak and the number of samples, including one taken now.
func (s *rssSampler) stop() (uint64, int) {
	close(s.stopped)
	<-s.done
	s.sample()
	return s.peak, s.n
}

// transcode uploads the clip as a public video and times its processing: from the upload's completion to
// READY (GetVideo polled every 50 ms), and from its last byte to the first playable rendition (its HLS
// playlist, first media playlist and first segment polled every 50 ms until all answer 200).
func (b *vodBench) transcode(ctx context.Context, clipPath string) (string, VODProcess, error) {
	def := config.Default().VOD
	p := VODProcess{Preset: def.Preset, SegmentDuration: def.SegmentDuration.String(), Workers: def.Workers}
	fi, err := os.Stat(clipPath)
	if err != nil {
		return "", p, err
	}
	p.ClipBytes = fi.Size()
	t0 := time.Now()
	r, err := b.upload(ctx, clipPath, fi.Size(), filepath.Base(clipPath), vodv1.Visibility_VISIBILITY_PUBLIC)
	if err != nil {
		return "", p, err
	}
	p.UploadS = r.complete.Sub(t0).Seconds()
	b.log.Info("clip uploaded; processing", "id", r.id, "seconds", p.UploadS)

	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var (
		wg                 sync.WaitGroup
		playable, mp4Ready time.Time
		perr, merr         error
	)
	c := newHTTPClient(10 * time.Second)
	defer c.CloseIdleConnections()
	svc0, all0 := serviceCPU(b.svc.cmd.Process.Pid), machineCPU()
	wg.Go(func() { playable, perr = pollPlayable(wctx, c, b.svc.http+"/vod/"+r.id+"/index.m3u8") })
	wg.Go(func() { mp4Ready, merr = pollOK(wctx, c, b.svc.http+"/vod/"+r.id+".mp4") })
	v, err := b.waitProcessed(wctx, r.id, 10*time.Minute)
	ready := time.Now()
	svc1, all1 := serviceCPU(b.svc.cmd.Process.Pid), machineCPU()
	if err != nil || v.Status != vodv1.Status_STATUS_READY {
		cancel()
		wg.Wait()
		if err == nil {
			err = fmt.Errorf("processing failed: %s", v.Failure)
		}
		return "", p, err
	}
	wg.Wait()
	if err := errors.Join(perr, merr); err != nil {
		return "", p, err
	}
	p.ReadyS = ready.Sub(r.complete).Seconds()
	p.ServiceCPUPercent = 100 * (svc1 - svc0) / p.ReadyS
	p.OthersCPUPercent = 100*(all1-all0)/p.ReadyS - p.ServiceCPUPercent
	p.PlayableS = playable.Sub(r.lastByte).Seconds()
	p.MP4PlayableS = mp4Ready.Sub(r.lastByte).Seconds()
	p.DurationS, p.Width, p.Height = v.DurationSeconds, int(v.Width), int(v.Height)
	p.VideoCodec, p.AudioCodec = v.VideoCodec, v.AudioCodec
	for _, rd := range v.Renditions {
		p.Renditions = append(p.Renditions, fmt.Sprintf("%s %dx%d %d kbit/s", rd.Name, rd.Width, rd.Height, rd.Bandwidth/1000))
	}
	if !v.HasMp4 {
		return "", p, fmt.Errorf("video %s is ready without an MP4", r.id)
	}
	b.log.Info("clip processed", "id", r.id, "readyS", p.ReadyS, "playableS", p.PlayableS, "speed", p.Speed())
	return r.id, p, nil
}

// pollOK polls u every 50 ms until it answers 200.
func pollOK(ctx context.Context, c *http.Client, u string) (time.Time, error) {
	for {
		if ok, at := answers200(ctx, c, u); ok {
			return at, nil
		}
		if err := sleepCtx(ctx, rssEvery); err != nil {
			return time.Time{}, fmt.Errorf("polling %s: %w", u, err)
		}
	}
}

// answers200 GETs u and reports whether it answered 200, and when the body had been read.
func answers200(ctx context.Context, c *http.Client, u string) (bool, time.Time) {
	code, _, at, err := fetch(ctx, c, u)
	return err == nil && code == http.StatusOK, at
}

// pollPlayable polls a multivariant playlist every 50 ms until it, its first variant's media playlist, that
// playlist's EXT-X-MAP and first segment all answer 200: a player can start.
func pollPlayable(ctx context.Context, c *http.Client, master string) (time.Time, error) {
	for {
		if at, ok := playableNow(ctx, c, master); ok {
			return at, nil
		}
		if err := sleepCtx(ctx, rssEvery); err != nil {
			return time.Time{}, fmt.Errorf("polling %s: %w", master, err)
		}
	}
}

func playableNow(ctx context.Context, c *http.Client, master string) (time.Time, bool) {
	code, body, at, err := fetch(ctx, c, master)
	if err != nil || code != http.StatusOK {
		return at, false
	}
	media := master
	if variant := firstURI(body); bytes.Contains(body, []byte("#EXT-X-STREAM-INF")) && variant != "" {
		if media, err = resolve(master, variant); err != nil {
			return at, false
		}
		if code, body, at, err = fetch(ctx, c, media); err != nil || code != http.StatusOK {
			return at, false
		}
	}
	var uris []string
	if m := extMap.FindSubmatch(body); m != nil {
		uris = append(uris, string(m[1]))
	}
	if seg := firstURI(body); seg != "" {
		uris = append(uris, seg)
	} else {
		return at, false
	}
	for _, u := range uris {
		abs, err := resolve(media, u)
		if err != nil {
			return at, false
		}
		var ok bool
		if ok, at = answers200(ctx, c, abs); !ok {
			return at, false
		}
	}
	return at, true
}

var extMap = regexp.MustCompile(`#EXT-X-MAP:.*URI="([^"]+)"`)

// firstURI is the first line of a playlist that is not a tag or blank.
func firstURI(pl []byte) string {
	for line := range strings.SplitSeq(string(pl), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	return ""
}

// staticTarget is the static nginx the service's byte ranges are compared with.
type staticTarget struct {
	URL, WWW string
	PID      int
}

// rangeScript is a wrk script asking for random 1 MiB-aligned ranges of 1 MiB within the file; the seeds
// are fixed, so every server is asked for the same ranges.
const rangeScript = `-- nagare bench vod: random %[2]d-byte ranges, aligned, within a %[1]d-byte file.
local size, chunk = %[1]d, %[2]d
local n = math.floor(size / chunk)
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  math.randomseed(seed)
end
function request()
  local first = math.random(0, n - 1) * chunk
  return wrk.format("GET", nil, {Range = "bytes=" .. first .. "-" .. (first + chunk - 1)})
end
`

// ranges copies the video's MP4 to the static nginx and loads both with wrk asking for 1 MiB byte ranges.
func (b *vodBench) ranges(ctx context.Context, id string, st staticTarget, conns, threads int, d time.Duration, rounds int) (VODRange, error) {
	rg := VODRange{Range: vodRange}
	c := newHTTPClient(30 * time.Second)
	defer c.CloseIdleConnections()
	vodURL := b.svc.http + "/vod/" + id + ".mp4"
	code, body, _, err := fetch(ctx, c, vodURL)
	if err != nil || code != http.StatusOK {
		return rg, fmt.Errorf("GET %s: status %d: %w", vodURL, code, err)
	}
	if len(body) < 2*vodRange {
		return rg, fmt.Errorf("the MP4 is %d bytes: too small for %d-byte ranges", len(body), vodRange)
	}
	rg.FileBytes = int64(len(body))
	name := "vod-" + id + ".mp4"
	if err := os.WriteFile(filepath.Join(st.WWW, name), body, 0o644); err != nil {
		return rg, err
	}
	staticURL := st.URL + "/" + name
	// both answer a range with the same bytes
	want := body[vodRange : 2*vodRange]
	for _, u := range []string{vodURL, staticURL} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return rg, err
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", vodRange, 2*vodRange-1))
		resp, err := c.Do(req)
		if err != nil {
			return rg, err
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, want) {
			return rg, fmt.Errorf("%s: a range answered %d with %d bytes, not 206 with the file's %d: %v", u, resp.StatusCode, len(got), len(want), err)
		}
	}
	script := filepath.Join(b.dir, "ranges.lua")
	if err := os.WriteFile(script, fmt.Appendf(nil, rangeScript, rg.FileBytes, vodRange), 0o644); err != nil {
		return rg, err
	}
	targets := []struct {
		name, url string
		pid       int
	}{{"nagare-vod", vodURL, b.svc.cmd.Process.Pid}, {staticKind, staticURL, st.PID}}
	for round := 1; round <= rounds; round++ {
		for _, t := range targets {
			gw0 := b.gatewayCPU()
			fr, err := wrk(ctx, t.pid, t.url, threads, conns, d, "-s", script)
			if err != nil {
				return rg, fmt.Errorf("%s: %w", t.name, err)
			}
			run := VODRangeRun{FanoutRun: fr, GatewayCPUPercent: 100 * (b.gatewayCPU() - gw0) / fr.Usage.Seconds}
			run.Usage.OthersCPUPercent -= run.GatewayCPUPercent
			run.Round, run.Server, run.What, run.Bytes = round, t.name, "range", vodRange
			b.log.Info("ranges", "round", round, "server", t.name, "reqPerSec", run.ReqPerSec, "non2xx", run.Non2xx,
				"cpuPercent", run.Usage.CPUPercent, "gatewayCpuPercent", run.GatewayCPUPercent, "othersCpuPercent", run.Usage.OthersCPUPercent)
			rg.Runs = append(rg.Runs, run)
			if err := sleepCtx(ctx, time.Second); err != nil {
				return rg, err
			}
		}
	}
	return rg, nil
}

// serviceCPU is the CPU seconds of pid and of its children it has waited for (utime, stime, cutime and
// cstime of /proc/<pid>/stat): the service's own and its finished ffmpeg and ffprobe processes'.
func serviceCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 15 {
		return 0
	}
	var ticks uint64
	for _, v := range f[11:15] { // fields 14 to 17
		n, _ := strconv.ParseUint(string(v), 10, 64)
		ticks += n
	}
	return float64(ticks) / 100 // USER_HZ
}

// machineCPU is the CPU seconds the whole machine has been busy (the first line of /proc/stat: all but
// idle and iowait), which counts processes that ended in between too.
func machineCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy uint64
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		busy += n
	}
	return float64(busy) / 100 // USER_HZ
}
