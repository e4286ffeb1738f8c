package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/hlspush"
	"github.com/nagare-video/nagare/internal/media/recording"
	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/objstore"
)

// storagePush is an origin's push of live HLS to storage and its recorder, which records over the
// segments the push uploads.
type storagePush struct {
	pusher *hlspush.Pusher
	rec    *recording.Recorder
	bucket *bucketSetup // nil unless something is written to the bucket or its setup is asked for
}

// Observer is the segmenter's observer of the publication st (hls.Config.Observe).
func (s *storagePush) Observer(st *stream.Stream) segmenter.Observer { return s.pusher.Observer(st) }

// Run runs the push and the recorder until ctx is cancelled and, within their grace period, they have
// written what the publications ending then still need.
func (s *storagePush) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.pusher.Run(gctx) })
	g.Go(func() error { return s.rec.Run(gctx) })
	if s.bucket != nil {
		g.Go(func() error { s.bucket.run(gctx); return nil })
	}
	return g.Wait()
}

// newPusher builds the push of live HLS to storage and the recorder of an origin (edges and relays serve
// what an origin pushes). With neither push.enabled nor record.enabled it still answers the recording API;
// storage is opened at its first use, so a node that never writes to it never touches it. When the node
// stops, what must still be written gets node.shutdownTimeout.
func (n *Node) newPusher(cfg config.Config) *storagePush {
	if n.pulls() {
		return nil
	}
	st := &lazyStore{cfg: StorageConfig(cfg.Storage)}
	log := n.log.With("component", "push")
	rec := recording.New(recording.Config{
		Record: cfg.Record.Enabled, Streams: cfg.Record.Streams, MP4: cfg.Record.MP4, Grace: cfg.Node.ShutdownTimeout,
	}, st, log, recording.NewMetrics(n.metrics.Registry))
	p := hlspush.New(hlspush.Config{
		Push: cfg.Push.Enabled, Streams: cfg.Push.Streams, Prefix: cfg.Push.Prefix,
		KeepOld: cfg.Push.KeepOld, Concurrency: cfg.Push.Concurrency, Backlog: cfg.Push.Backlog,
		HideSource: cfg.Transcode.Enabled && !cfg.Transcode.Passthrough,
		LowLatency: cfg.Push.LowLatency && cfg.HLS.Variant == "lowlatency", Grace: cfg.Node.ShutdownTimeout,
	}, st, rec, log, hlspush.NewMetrics(n.metrics.Registry))
	if cfg.Push.Enabled || cfg.Record.Enabled {
		n.log.Info("pushing to storage", "backend", cfg.Storage.Backend, "bucket", cfg.Storage.Bucket,
			"directory", cfg.Storage.Directory, "prefix", cfg.Push.Prefix, "push", cfg.Push.Enabled, "record", cfg.Record.Enabled)
	}
	sp := &storagePush{pusher: p, rec: rec}
	// recordings are stored under the push's prefix and played from the bucket too; a local directory is
	// read through whatever web server serves it, which nagare cannot set up or check
	if cfg.Storage.Backend == objstore.BackendS3 && (cfg.Push.Enabled || cfg.Record.Enabled || cfg.Push.PublicRead || cfg.Push.CORS) {
		sp.bucket = &bucketSetup{st: st, prefix: cfg.Push.Prefix, publicRead: cfg.Push.PublicRead, cors: cfg.Push.CORS,
			log: log.With("bucket", cfg.Storage.Bucket, "prefix", cfg.Push.Prefix)}
	}
	return sp
}

// publicBucket is what the start-up needs of an S3 bucket (objstore.S3); a local directory has none of it:
// whoever serves it decides who may read it.
type publicBucket interface {
	AllowPublicRead(ctx context.Context, prefix string) error
	AllowCORS(ctx context.Context) error
	CheckPublic(ctx context.Context, prefix string) error
}

// bucketSetup makes the push's bucket readable by players at start when push.publicRead and push.cors
// ask for it, then checks that it is, and warns when it is not. Nothing here stops the push: some
// deployments serve the bucket through a CDN that has credentials of its own.
type bucketSetup struct {
	st               *lazyStore
	prefix           string
	publicRead, cors bool
	log              *slog.Logger
}

// bucketCheckTimeout bounds the start-up's calls to the bucket.
const bucketCheckTimeout = 30 * time.Second

func (b *bucketSetup) run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, bucketCheckTimeout)
	defer cancel()
	st, err := b.st.open(ctx)
	if err != nil {
		return // the push logs it with its first upload
	}
	pb, ok := st.(publicBucket)
	if !ok {
		return
	}
	if b.publicRead {
		if err := pb.AllowPublicRead(ctx, b.prefix); err != nil {
			b.log.Error("push.publicRead: the bucket policy was not set", "cause", err)
		} else {
			b.log.Info("push.publicRead: anyone may GET the objects under the prefix")
		}
	}
	if b.cors {
		if err := pb.AllowCORS(ctx); err != nil {
			b.log.Error("push.cors: the bucket CORS rule was not set", "cause", err)
		} else {
			b.log.Info("push.cors: web pages of any origin may GET and HEAD the bucket's objects")
		}
	}
	switch err := pb.CheckPublic(ctx, b.prefix); {
	case err == nil:
		b.log.Info("players can read the pushed HLS from the bucket without credentials, browsers from any origin")
	case ctx.Err() != nil:
	case errors.Is(err, objstore.ErrNotPublic):
		b.log.Warn("players cannot read the pushed HLS from the bucket without credentials; set push.publicRead: true "+
			"or run 'nagare bucket setup' (not needed if a CDN with credentials of its own serves the bucket)", "cause", err)
	case errors.Is(err, objstore.ErrNoCORS):
		b.log.Warn("browser players on another origin cannot read the pushed HLS from the bucket (CORS); set push.cors: true "+
			"or run 'nagare bucket setup' (not needed if a CDN in front of the bucket adds CORS headers)", "cause", err)
	default:
		b.log.Warn("could not check whether players can read the pushed HLS from the bucket", "cause", err)
	}
}

// runPush runs the push to storage, if the node has one, until ctx is cancelled; the channel is closed
// when it has finished: node.shutdownTimeout after ctx at most.
func (n *Node) runPush(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if n.push == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		if err := n.push.Run(ctx); err != nil {
			n.log.Error("storage push", "cause", err)
		}
	}()
	return done
}

// lazyStore opens the object store at its first use.
type lazyStore struct {
	cfg  objstore.Config
	once sync.Once
	st   objstore.Store
	err  error
}

func (l *lazyStore) open(ctx context.Context) (objstore.Store, error) {
	l.once.Do(func() {
		l.st, l.err = objstore.Open(ctx, l.cfg)
		if l.err != nil {
			l.err = fmt.Errorf("storage: %w", l.err)
		}
	})
	return l.st, l.err
}

func (l *lazyStore) Put(ctx context.Context, key string, r io.Reader, size int64, o objstore.PutOptions) error {
	st, err := l.open(ctx)
	if err != nil {
		return err
	}
	return st.Put(ctx, key, r, size, o)
}

func (l *lazyStore) Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error) {
	st, err := l.open(ctx)
	if err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	return st.Get(ctx, key, rng)
}

func (l *lazyStore) Head(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	st, err := l.open(ctx)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	return st.Head(ctx, key)
}

func (l *lazyStore) Delete(ctx context.Context, key string) error {
	st, err := l.open(ctx)
	if err != nil {
		return err
	}
	return st.Delete(ctx, key)
}

// jsonError answers {"error": msg} with code.
func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // JSON for programs: "<rung>" stays readable
	_ = enc.Encode(map[string]string{"error": msg})
}

// clusterAuth checks that r carries the cluster secret as a Bearer token, and answers it when not (what
// names the API in the answer).
func (n *Node) clusterAuth(w http.ResponseWriter, r *http.Request, what string) bool {
	authErr := n.secret.Check(r)
	switch {
	case n.cfg.Cluster.Secret == "":
		jsonError(w, http.StatusForbidden, what+" needs cluster.secret")
	case errors.Is(authErr, nodeapi.ErrNoToken):
		jsonError(w, http.StatusUnauthorized, "missing bearer token (the cluster secret)")
	case authErr != nil:
		n.log.Warn(what+" call refused", "remote", r.RemoteAddr, "cause", authErr)
		jsonError(w, http.StatusForbidden, "wrong token")
	default:
		return true
	}
	return false
}

// recordingAPI lets the manager (or an operator with the cluster secret) start (PUT) or stop (DELETE) the
// recording of a stream: a publication live now from its next segment (stopping stores that recording at
// once), and its next publications whole. GET tells: "recording" for the next publications, "recordingNow"
// for the live one.
func (n *Node) recordingAPI(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) { jsonError(w, code, msg) }
	switch {
	case !n.clusterAuth(w, r, "the recording API"):
		return
	case n.push == nil:
		fail(http.StatusConflict, "only origins record")
		return
	}
	p, err := stream.ParsePath(r.PathValue("app") + "/" + r.PathValue("stream"))
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	switch r.Method {
	case http.MethodPut:
		n.push.rec.Set(p, true)
		n.log.Info("recording requested", "stream", p.String())
	case http.MethodDelete:
		n.push.rec.Set(p, false)
		n.log.Info("recording cancelled", "stream", p.String())
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(nodeapi.RecordingState{Stream: p.String(), Recording: n.push.rec.Next(p),
		RecordingNow: n.push.rec.Now(p)})
}
