package service

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/vod/store"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// storeStatus turns a store error into a gRPC status.
func storeStatus(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case status.Code(err) != codes.Unknown:
		return err
	case errors.Is(err, store.ErrNotFound):
		return status.Errorf(codes.NotFound, "%s: not found", what)
	case errors.Is(err, store.ErrExists):
		return status.Errorf(codes.AlreadyExists, "%s: already exists", what)
	case errors.Is(err, store.ErrConflict):
		return status.Errorf(codes.Aborted, "%s: changed meanwhile, try again", what)
	case errors.Is(err, store.ErrUnavailable):
		return status.Errorf(codes.Unavailable, "%s: the database does not answer; try again", what)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Internal, "%s: %v", what, err)
}

// storageStatus turns an object storage error into a gRPC status: a storage that fails is UNAVAILABLE, so
// the client retries (and an upload continues from its committed size).
func storageStatus(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case status.Code(err) != codes.Unknown:
		return err
	case errors.Is(err, store.ErrConflict):
		return status.Errorf(codes.Aborted, "%s: the upload was changed by another stream", what)
	case errors.Is(err, store.ErrUnavailable):
		return status.Errorf(codes.Unavailable, "%s: the database does not answer; query the upload and continue", what)
	case errors.Is(err, objstore.ErrNotFound), errors.Is(err, objstore.ErrNoSuchUpload):
		return status.Errorf(codes.NotFound, "%s: %v", what, err)
	case errors.Is(err, objstore.ErrInvalidRange):
		return status.Errorf(codes.OutOfRange, "%s: %v", what, err)
	}
	return status.Errorf(codes.Unavailable, "%s: object storage failed: %v", what, err)
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func (s *Service) toProto(v store.Video) *vodv1.Video {
	out := &vodv1.Video{
		Id: v.ID, Owner: v.Owner, Title: v.Title, Description: v.Description,
		Visibility: vodv1.Visibility(v.Visibility), Status: vodv1.Status(v.Status), Failure: v.Failure,
		Progress: int32(v.Progress), Source: vodv1.Source(v.Source), FileName: v.FileName, Size: v.Size,
		Sha256: v.SHA256, DurationSeconds: v.Duration.Seconds(), Width: int32(v.Width), Height: int32(v.Height),
		VideoCodec: v.VideoCodec, AudioCodec: v.AudioCodec, HasMp4: v.MP4Key != "",
		CreatedAt: timestamp(v.CreatedAt), UpdatedAt: timestamp(v.UpdatedAt), Stream: v.Stream,
	}
	for _, r := range v.Renditions {
		out.Renditions = append(out.Renditions, &vodv1.Rendition{Name: r.Name, Width: int32(r.Width), Height: int32(r.Height), Bandwidth: r.Bandwidth})
	}
	return out
}
