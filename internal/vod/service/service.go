// Package service is the VOD gRPC service (nagare.vod.v1.VideoService): resumable uploads straight into
// object storage, the video library, downloads and playback URLs, behind bearer tokens.
package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/vod/store"
	"github.com/nagare-video/nagare/internal/vod/vodmetrics"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// Objects is what the service needs of object storage.
type Objects interface {
	objstore.Multipart
	Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error)
	Head(ctx context.Context, key string) (objstore.ObjectInfo, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error)
}

// Limits of an upload's messages: a chunk may carry at most MaxChunk bytes (256 KiB to 1 MiB is the
// intended size), well under gRPC's 4 MiB message limit.
const (
	MaxChunk = 1 << 20
	// DefaultPartSize is how many bytes are stored as one part; a connection that drops loses at most the
	// part being filled (the client continues from the committed size).
	DefaultPartSize = 8 << 20
	// DefaultPartsInFlight parts are stored concurrently; memory per upload is (1 + this) × part size.
	DefaultPartsInFlight = 1
)

// Config are the service's settings.
type Config struct {
	AdminToken string
	// Secret signs upload tokens and private playback URLs.
	Secret []byte
	// PublicURL is the base of playback URLs (the VOD HTTP address as clients reach it).
	PublicURL string
	// MaxSize bounds an upload's size; Quota (0 = none) the bytes of all videos of one owner.
	MaxSize int64
	Quota   int64
	// PartSize and PartsInFlight shape how an upload is stored (defaults above).
	PartSize      int64
	PartsInFlight int
	// UploadExpiry is how long an upload that makes no progress is kept before its parts are aborted.
	UploadExpiry time.Duration
	// Prefix starts the key of every object of a video: <Prefix>/<id>/...
	Prefix string
}

// Service implements vodv1.VideoServiceServer.
type Service struct {
	vodv1.UnimplementedVideoServiceServer

	cfg     Config
	store   *store.SQL
	objects Objects
	log     *slog.Logger
	// Processing is told of every completed upload (may be nil): it wakes the job worker.
	Processing func()
	// Metrics counts uploads (nil: not counted).
	Metrics *vodmetrics.Metrics

	mu      sync.Mutex
	writing map[string]*activeWrite // uploads a stream is writing now

	// partBufs keeps part buffers between uploads: one upload after the other reuses the same memory
	// rather than leaving the collector a few part sizes of garbage each time.
	partBufs sync.Pool
}

func (s *Service) partBuf() []byte {
	if b, ok := s.partBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, s.cfg.PartSize)
}

func (s *Service) putPartBuf(b []byte) {
	if int64(cap(b)) != s.cfg.PartSize {
		return
	}
	b = b[:0]
	s.partBufs.Put(&b)
}

// activeWrite is a stream writing an upload.
type activeWrite struct {
	done chan struct{} // closed when the stream is done with the upload
	// ending: the stream has stopped receiving and stores what it still holds; the committed size is
	// about to settle.
	ending atomic.Bool
}

// New makes a Service.
func New(cfg Config, st *store.SQL, objects Objects, log *slog.Logger) *Service {
	if cfg.PartSize <= 0 {
		cfg.PartSize = DefaultPartSize
	}
	cfg.PartSize = max(cfg.PartSize, objstore.MinPartSize)
	if cfg.PartsInFlight <= 0 {
		cfg.PartsInFlight = DefaultPartsInFlight
	}
	if cfg.UploadExpiry <= 0 {
		cfg.UploadExpiry = 24 * time.Hour
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "vod"
	}
	return &Service{cfg: cfg, store: st, objects: objects, log: log, writing: map[string]*activeWrite{}}
}

// Run aborts expired uploads every interval until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		s.expire(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// expire aborts the multipart uploads of uploads that made no progress within UploadExpiry and removes
// their videos.
func (s *Service) expire(ctx context.Context) {
	ups, err := s.store.ExpiredUploads(ctx, s.store.Now())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("listing expired uploads", "err", err)
		}
		return
	}
	for _, u := range ups {
		if !s.claim(u.ID) {
			continue // a stream is writing it right now
		}
		err := s.objects.AbortMultipart(ctx, u.ObjectKey, u.MultipartID)
		if err == nil {
			err = s.store.DeleteVideo(ctx, u.ID)
		}
		s.release(u.ID)
		if err != nil {
			s.log.Warn("expiring upload", "upload", u.ID, "err", err)
			continue
		}
		s.log.Info("upload expired: its parts are aborted", "upload", u.ID, "committed", u.Committed, "size", u.Size)
	}
}

// claim marks an upload as being written by one stream; false when another stream already is.
func (s *Service) claim(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writing[id] != nil {
		return false
	}
	s.writing[id] = &activeWrite{done: make(chan struct{})}
	return true
}

// claimWait claims an upload, waiting up to wait for the stream writing it to end: a client that lost its
// connection usually comes back before the server has finished with the old stream.
func (s *Service) claimWait(ctx context.Context, id string, wait time.Duration) bool {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		busy := s.writing[id]
		if busy == nil {
			s.writing[id] = &activeWrite{done: make(chan struct{})}
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		select {
		case <-busy.done:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// ending marks the stream writing an upload as ending (see activeWrite).
func (s *Service) ending(id string) {
	s.mu.Lock()
	if w := s.writing[id]; w != nil {
		w.ending.Store(true)
	}
	s.mu.Unlock()
}

// waitEnded waits up to wait for a stream that is ending to be done with the upload, so that the committed
// size read next is the one a continuing stream will be held to. A stream still receiving is not waited
// for: its client may be asking how far it got.
func (s *Service) waitEnded(ctx context.Context, id string, wait time.Duration) {
	s.mu.Lock()
	w := s.writing[id]
	s.mu.Unlock()
	if w == nil || !w.ending.Load() {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *Service) release(id string) {
	s.mu.Lock()
	if w := s.writing[id]; w != nil {
		close(w.done)
	}
	delete(s.writing, id)
	s.mu.Unlock()
}

// newID makes a video id: 16 characters of base64url (96 random bits).
func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ValidID reports whether id can name a video: what newID makes, and recordings' "rec-" ids.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Service) key(id, name string) string { return s.cfg.Prefix + "/" + id + "/" + name }

var errNotVideo = errors.New("not a video file")
