// Package recordings adds the live recordings that origins store (a VOD playlist and a JSON manifest
// per recording, see media/recording) to the VOD library as ready videos.
package recordings

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/media/recording"
	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/vod/store"
)

// Objects is what the importer needs of object storage.
type Objects interface {
	Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error)
	Head(ctx context.Context, key string) (objstore.ObjectInfo, error)
	Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) error
	List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error)
}

// Importer scans the storage push's prefix for recording manifests and adds each new one to the library.
type Importer struct {
	Store   *store.SQL
	Objects Objects
	// Prefix is the storage push's prefix ("live"): recordings are under <Prefix>/<app>/<stream>/.
	Prefix string
	// Owner and Visibility of the videos made of recordings.
	Owner      string
	Visibility store.Visibility
	// Every is how often storage is scanned (default 30 s).
	Every time.Duration
	Log   *slog.Logger

	// seen are the manifests already in the library, as they were listed then: the recorder writes a
	// manifest again once the recording's MP4 is stored, and a changed one is read again.
	seen map[string]objstore.ObjectInfo
}

// manifestName matches the manifests the recorder writes: <segments' prefix>_recording[N].json.
var manifestName = regexp.MustCompile(`(^|/|_)recording[0-9]*\.json$`)

// Run scans at once and then every Every until ctx ends.
func (im *Importer) Run(ctx context.Context) error {
	every := im.Every
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := im.Scan(ctx); err != nil && ctx.Err() == nil {
			im.Log.Warn("scanning for recordings", "err", err)
		} else if n > 0 {
			im.Log.Info("recordings added to the library", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ID is the library id of the recording whose manifest is at key: stable, so a rescan adds nothing twice.
func ID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "rec-" + base64.RawURLEncoding.EncodeToString(sum[:15])
}

// Scan adds the recordings not yet in the library and returns how many it added.
func (im *Importer) Scan(ctx context.Context) (int, error) {
	if im.seen == nil {
		im.seen = map[string]objstore.ObjectInfo{}
	}
	prefix := strings.Trim(im.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	objs, err := im.Objects.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("listing %q: %w", prefix, err)
	}
	added := 0
	var errs []error
	for _, o := range objs {
		if prev, ok := im.seen[o.Key]; (ok && prev.Size == o.Size && prev.ModTime.Equal(o.ModTime)) || !manifestName.MatchString(o.Key) {
			continue
		}
		ok, err := im.add(ctx, o.Key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		im.seen[o.Key] = o
		if ok {
			added++
		}
	}
	return added, errors.Join(errs...)
}

// add records the recording of the manifest at key; false when it was already in the library (its MP4 is
// added to it when the manifest names one the video lacks).
func (im *Importer) add(ctx context.Context, key string) (bool, error) {
	id := ID(key)
	old, err := im.Store.Video(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	exists := err == nil
	m, err := recording.ReadManifest(ctx, im.Objects, key)
	if err != nil {
		return false, err
	}
	if m.RenditionOf != "" {
		return false, nil // one rendition of an adaptive stream: its source's recording lists it
	}
	if m.Playlist == "" || !objstore.ValidKey(m.Playlist) || (m.MP4 != "" && !objstore.ValidKey(m.MP4)) ||
		(m.Multivariant != "" && !objstore.ValidKey(m.Multivariant)) {
		return false, fmt.Errorf("manifest %s: bad playlist, multivariant or mp4 key", key)
	}
	hls := m.Playlist
	if m.Multivariant != "" {
		hls = m.Multivariant // every rendition plays, adaptively
	}
	if exists {
		// the manifest is written again once the MP4 is stored, and the multivariant playlist of an
		// adaptive stream's recording
		if (m.MP4 == "" || old.MP4Key != "") && (m.Multivariant == "" || old.HLSKey == m.Multivariant) {
			return false, nil
		}
		_, err := im.Store.UpdateVideo(ctx, id, "recording MP4 or multivariant playlist stored", func(v *store.Video) error {
			if v.MP4Key == "" {
				v.MP4Key = m.MP4
			}
			if m.Multivariant != "" && v.HLSKey == m.Playlist {
				v.HLSKey = m.Multivariant
			}
			return nil
		})
		if errors.Is(err, store.ErrNotFound) { // deleted meanwhile
			err = nil
		}
		return false, err
	}
	vis := im.Visibility
	if vis == 0 {
		vis = store.Private
	}
	owner := im.Owner
	if owner == "" {
		owner = "recordings"
	}
	v := store.Video{
		ID: id, Owner: owner, Title: m.Stream + " " + m.Start.UTC().Format("2006-01-02 15:04:05"),
		Visibility: vis, Status: store.Ready, Progress: 100, Source: store.FromRecording, Stream: m.Stream,
		Size: m.Size, Duration: time.Duration(m.Duration * float64(time.Second)), HLSKey: hls, MP4Key: m.MP4,
		CreatedAt: m.End,
	}
	if err := im.Store.CreateVideo(ctx, v); errors.Is(err, store.ErrExists) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	im.Log.Info("recording added to the library", "video", id, "stream", m.Stream, "manifest", key)
	return true, nil
}
