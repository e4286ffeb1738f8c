package service

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nagare-video/nagare/internal/media/recording"
	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/vod/playback"
	"github.com/nagare-video/nagare/internal/vod/store"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// video reads a video the caller may see; another owner's is NOT_FOUND (its existence is not revealed).
func (s *Service) video(ctx context.Context, id string) (store.Video, error) {
	if !ValidID(id) {
		return store.Video{}, status.Error(codes.InvalidArgument, "id is not a video id")
	}
	v, err := s.store.Video(ctx, id)
	if err == nil && !caller(ctx).canSee(v.Owner) {
		err = store.ErrNotFound
	}
	if err != nil {
		return v, storeStatus(err, "video "+id)
	}
	return v, nil
}

// GetVideo returns one video.
func (s *Service) GetVideo(ctx context.Context, req *vodv1.GetVideoRequest) (*vodv1.Video, error) {
	v, err := s.video(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	return s.toProto(v), nil
}

// ListVideos lists videos newest first, a page at a time.
func (s *Service) ListVideos(ctx context.Context, req *vodv1.ListVideosRequest) (*vodv1.ListVideosResponse, error) {
	p := caller(ctx)
	f := store.Filter{Owner: req.Owner, Status: store.Status(req.Status), Visibility: store.Visibility(req.Visibility)}
	if !p.admin {
		if f.Owner != "" && f.Owner != p.owner {
			return nil, status.Errorf(codes.PermissionDenied, "this token lists the videos of %q only", p.owner)
		}
		f.Owner = p.owner
	}
	switch {
	case req.PageSize < 0 || req.PageSize > 100:
		return nil, status.Errorf(codes.InvalidArgument, "page_size must be 1 to 100 (got %d)", req.PageSize)
	case req.PageSize == 0:
		f.Limit = 20
	default:
		f.Limit = int(req.PageSize)
	}
	if req.PageToken != "" {
		at, id, err := decodePageToken(req.PageToken)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "page_token is not one this service made")
		}
		f.AfterTime, f.AfterID = at, id
	}
	vs, err := s.store.Videos(ctx, f)
	if err != nil {
		return nil, storeStatus(err, "listing videos")
	}
	out := &vodv1.ListVideosResponse{}
	for _, v := range vs {
		out.Videos = append(out.Videos, s.toProto(v))
	}
	if len(vs) == f.Limit {
		last := vs[len(vs)-1]
		out.NextPageToken = encodePageToken(last.CreatedAt, last.ID)
	}
	return out, nil
}

func encodePageToken(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMilli(), 10) + ":" + id))
}

func decodePageToken(tok string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return time.Time{}, "", err
	}
	ms, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || !ValidID(id) {
		return time.Time{}, "", errors.New("bad page token")
	}
	return time.UnixMilli(n).UTC(), id, nil
}

// UpdateVideo changes a video's title, description or visibility.
func (s *Service) UpdateVideo(ctx context.Context, req *vodv1.UpdateVideoRequest) (*vodv1.Video, error) {
	if _, err := s.video(ctx, req.Id); err != nil {
		return nil, err
	}
	var problems []string
	if req.Title != nil && (len(*req.Title) > MaxTitle || !utf8.ValidString(*req.Title)) {
		problems = append(problems, fmt.Sprintf("title must be valid UTF-8 of at most %d bytes", MaxTitle))
	}
	if req.Description != nil && (len(*req.Description) > MaxDescription || !utf8.ValidString(*req.Description)) {
		problems = append(problems, fmt.Sprintf("description must be valid UTF-8 of at most %d bytes", MaxDescription))
	}
	if _, ok := vodv1.Visibility_name[int32(req.Visibility)]; !ok {
		problems = append(problems, fmt.Sprintf("unknown visibility %d", req.Visibility))
	}
	if len(problems) > 0 {
		return nil, status.Error(codes.InvalidArgument, strings.Join(problems, "; "))
	}
	v, err := s.store.UpdateVideo(ctx, req.Id, "", func(v *store.Video) error {
		if req.Title != nil {
			v.Title = *req.Title
		}
		if req.Description != nil {
			v.Description = *req.Description
		}
		if req.Visibility != vodv1.Visibility_VISIBILITY_UNSPECIFIED {
			v.Visibility = store.Visibility(req.Visibility)
		}
		return nil
	})
	if err != nil {
		return nil, storeStatus(err, "video "+req.Id)
	}
	return s.toProto(v), nil
}

// DeleteVideo removes a video: its open upload is aborted, its objects deleted, then its entry.
func (s *Service) DeleteVideo(ctx context.Context, req *vodv1.DeleteVideoRequest) (*vodv1.DeleteVideoResponse, error) {
	v, err := s.video(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	if !s.claim(v.ID) {
		return nil, status.Errorf(codes.FailedPrecondition, "video %s is being uploaded right now; stop the upload first", v.ID)
	}
	defer s.release(v.ID)
	if up, err := s.store.Upload(ctx, v.ID); err == nil {
		if err := s.objects.AbortMultipart(ctx, up.ObjectKey, up.MultipartID); err != nil {
			return nil, storageStatus(err, "aborting the upload")
		}
	}
	keys, err := s.objectsOf(ctx, v)
	if err != nil {
		return nil, storageStatus(err, "listing the video's objects")
	}
	for _, k := range keys {
		if err := s.objects.Delete(ctx, k); err != nil {
			return nil, storageStatus(err, "deleting "+k)
		}
	}
	if err := s.store.DeleteVideo(ctx, v.ID); err != nil {
		return nil, storeStatus(err, "video "+v.ID)
	}
	s.log.Info("video deleted", "video", v.ID, "objects", len(keys))
	return &vodv1.DeleteVideoResponse{}, nil
}

// objectsOf lists every object of a video: those under its prefix, and for a recording the objects its
// entry names (its playlist, manifest and MP4; the live segments stay with the stream's storage).
func (s *Service) objectsOf(ctx context.Context, v store.Video) ([]string, error) {
	if v.Source == store.FromRecording {
		// the manifest is beside the recording's playlist (<name>.json for <name>.m3u8 or, for an adaptive
		// stream's, <name>_multivariant.m3u8) and names the rest: the renditions' playlists and manifests too
		manifest := strings.TrimSuffix(strings.TrimSuffix(v.HLSKey, ".m3u8"), "_multivariant") + ".json"
		named := []string{v.HLSKey, v.MP4Key, manifest}
		if m, err := recording.ReadManifest(ctx, s.objects, manifest); err == nil {
			named = append(named, m.Playlist, m.Multivariant, m.MP4)
			for _, r := range m.Renditions {
				named = append(named, r, strings.TrimSuffix(r, ".m3u8")+".json")
			}
		} else if !errors.Is(err, objstore.ErrNotFound) && !errors.Is(err, recording.ErrBadManifest) {
			return nil, err // storage does not answer: delete nothing rather than half
		}
		var keys []string
		for _, k := range named {
			if k != "" && objstore.ValidKey(k) && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		return keys, nil
	}
	infos, err := s.objects.List(ctx, s.cfg.Prefix+"/"+v.ID+"/")
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(infos))
	for i, o := range infos {
		keys[i] = o.Key
	}
	return keys, nil
}

// downloadChunk is the size of Download's messages.
const downloadChunk = 1 << 20

// Download streams a byte range of the original upload or of the MP4, read from storage a chunk at a time.
func (s *Service) Download(req *vodv1.DownloadRequest, stream grpc.ServerStreamingServer[vodv1.DownloadResponse]) error {
	ctx := stream.Context()
	v, err := s.video(ctx, req.Id)
	if err != nil {
		return err
	}
	key := v.SourceKey
	switch req.Rendering {
	case vodv1.Rendering_RENDERING_UNSPECIFIED, vodv1.Rendering_RENDERING_SOURCE:
		if v.Status == store.Uploading {
			return status.Errorf(codes.FailedPrecondition, "video %s is still uploading", v.ID)
		}
	case vodv1.Rendering_RENDERING_MP4:
		key = v.MP4Key
	default:
		return status.Errorf(codes.InvalidArgument, "unknown rendering %d", req.Rendering)
	}
	if key == "" {
		return status.Errorf(codes.NotFound, "video %s has no %s", v.ID, req.Rendering)
	}
	if req.Offset < 0 || req.Length < 0 {
		return status.Error(codes.InvalidArgument, "offset and length must not be negative")
	}
	info, err := s.objects.Head(ctx, key)
	if err != nil {
		return storageStatus(err, "reading the video")
	}
	end := info.Size
	if req.Length > 0 {
		end = min(info.Size, req.Offset+req.Length)
	}
	if req.Offset >= info.Size && info.Size > 0 {
		return status.Errorf(codes.OutOfRange, "offset %d is past the end (%d bytes)", req.Offset, info.Size)
	}
	buf := make([]byte, downloadChunk)
	for off := req.Offset; off < end; {
		n := min(int64(len(buf))*8, end-off) // one ranged read per 8 chunks
		rc, _, err := s.objects.Get(ctx, key, &objstore.Range{Start: off, End: off + n - 1})
		if err != nil {
			return storageStatus(err, "reading the video")
		}
		for n > 0 {
			m, err := io.ReadFull(rc, buf[:min(int64(len(buf)), n)])
			if m > 0 {
				if err := stream.Send(&vodv1.DownloadResponse{Chunk: buf[:m], Offset: off, Size: info.Size}); err != nil {
					rc.Close()
					return err
				}
				off, n = off+int64(m), n-int64(m)
			}
			if err != nil {
				rc.Close()
				if n > 0 {
					return storageStatus(err, "reading the video")
				}
				break
			}
		}
		rc.Close()
	}
	return nil
}

// MaxURLTTL bounds how long a signed playback URL is valid.
const MaxURLTTL = 7 * 24 * time.Hour

// PlaybackURLs returns a video's HTTP URLs, signed when the video is private.
func (s *Service) PlaybackURLs(ctx context.Context, req *vodv1.PlaybackURLsRequest) (*vodv1.Playback, error) {
	v, err := s.video(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	if v.Status != store.Ready {
		return nil, status.Errorf(codes.FailedPrecondition, "video %s is %s, not ready", v.ID, v.Status)
	}
	ttl := time.Duration(req.TtlSeconds) * time.Second
	switch {
	case req.TtlSeconds < 0 || ttl > MaxURLTTL:
		return nil, status.Errorf(codes.InvalidArgument, "ttl_seconds must be 1 to %d", int(MaxURLTTL.Seconds()))
	case ttl == 0:
		ttl = time.Hour
	}
	out := &vodv1.Playback{}
	q := map[string][]string(nil)
	if v.Visibility == store.Private {
		exp := time.Now().Add(ttl)
		q = playback.Sign(s.cfg.Secret, v.ID, exp)
		out.ExpiresAt = timestamppb.New(exp)
	}
	hls, mp4, poster, board := playback.URLs(s.cfg.PublicURL, v.ID, q)
	if v.HLSKey != "" {
		out.Hls = hls
	}
	if v.MP4Key != "" {
		out.Mp4 = mp4
	}
	if v.PosterKey != "" {
		out.Poster = poster
	}
	if v.StoryboardVTTKey != "" {
		out.Storyboard = board
	}
	return out, nil
}

// Media answers the playback handler: what of a video may be played, and where its objects are.
func (s *Service) Media(ctx context.Context, id string) (playback.Media, error) {
	v, err := s.store.Video(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return playback.Media{}, fmt.Errorf("video %q: %w", id, playback.ErrNotFound)
	}
	if err != nil {
		return playback.Media{}, err
	}
	vis := playback.Private
	switch v.Visibility {
	case store.Unlisted:
		vis = playback.Unlisted
	case store.Public:
		vis = playback.Public
	}
	return playback.Media{
		ID: v.ID, Visibility: vis, Ready: v.Status == store.Ready, MP4Key: v.MP4Key, HLSKey: v.HLSKey,
		PosterKey: v.PosterKey, StoryboardKey: v.StoryboardKey, StoryboardVTTKey: v.StoryboardVTTKey, UpdatedAt: v.UpdatedAt,
	}, nil
}
