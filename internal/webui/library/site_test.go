package library

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// library is a fake of the VOD service's listing, with keyset page tokens as the service makes them:
// enough to page through hundreds of videos, which the real service would first have to process.
// (Everything else is tested against the real service in library_test.go.)
type library struct {
	vodv1.VideoServiceClient
	videos []*vodv1.Video // newest first
	lists  int
}

func (l *library) ListVideos(_ context.Context, req *vodv1.ListVideosRequest, _ ...grpc.CallOption) (*vodv1.ListVideosResponse, error) {
	l.lists++
	if req.Status != vodv1.Status_STATUS_READY || req.Visibility != vodv1.Visibility_VISIBILITY_PUBLIC {
		return nil, status.Error(codes.Internal, "the site lists only public, ready videos")
	}
	if req.PageSize < 1 || req.PageSize > 100 {
		return nil, status.Errorf(codes.InvalidArgument, "page_size %d", req.PageSize)
	}
	from := 0
	if req.PageToken != "" {
		from = -1
		for i, v := range l.videos {
			if "after:"+v.Id == req.PageToken {
				from = i + 1
			}
		}
		if from < 0 {
			return nil, status.Error(codes.InvalidArgument, "page_token is not one this service made")
		}
	}
	page := l.videos[from:min(len(l.videos), from+int(req.PageSize))]
	res := &vodv1.ListVideosResponse{Videos: page}
	if len(page) == int(req.PageSize) {
		res.NextPageToken = "after:" + page[len(page)-1].Id
	}
	return res, nil
}

func (l *library) PlaybackURLs(_ context.Context, req *vodv1.PlaybackURLsRequest, _ ...grpc.CallOption) (*vodv1.Playback, error) {
	return &vodv1.Playback{Poster: "http://vod/vod/" + req.Id + "/poster.jpg"}, nil
}

// TestSiteListPaging pages through the public list, with and without a search, and checks that every
// matching video comes exactly once, in order, and that a request makes a bounded number of calls.
func TestSiteListPaging(t *testing.T) {
	lib := &library{}
	var talks, all []string
	for i := range 637 { // more than one request may read (scanCalls × scanPage)
		v := &vodv1.Video{Id: fmt.Sprintf("v%03d", i), Title: fmt.Sprintf("Video %d", i), Status: vodv1.Status_STATUS_READY}
		if i%11 == 0 {
			v.Title = fmt.Sprintf("Keynote TALK %d", i)
			talks = append(talks, v.Id)
		}
		lib.videos = append(lib.videos, v)
		all = append(all, v.Id)
	}
	s := NewSite(lib, "tok", nil, slog.New(slog.DiscardHandler))
	page := func(query url.Values) ([]string, string) {
		t.Helper()
		lib.lists = 0
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/site/api/videos?"+query.Encode(), nil))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.LessOrEqual(t, lib.lists, scanCalls)
		var out siteListJSON
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
		var ids []string
		for _, v := range out.Videos {
			require.Equal(t, "http://vod/vod/"+v.ID+"/poster.jpg", v.Poster)
			ids = append(ids, v.ID)
		}
		return ids, out.NextPageToken
	}
	walk := func(q, size string) (ids []string, pages int) {
		tok := ""
		for {
			got, next := page(url.Values{"q": {q}, "pageToken": {tok}, "pageSize": {size}})
			ids, pages = append(ids, got...), pages+1
			if next == "" {
				return ids, pages
			}
			require.Less(t, pages, 100, "the pages never end")
			tok = next
		}
	}
	for _, tc := range []struct {
		q, size string
		want    []string
	}{
		{"", "", all},
		{"", "7", all},
		{"", "50", all},
		{"talk", "", talks},
		{"  Keynote talk ", "3", talks},
		{"nothing matches", "", nil},
	} {
		t.Run(tc.q+"/"+tc.size, func(t *testing.T) {
			got, pages := walk(tc.q, tc.size)
			require.Equal(t, tc.want, got)
			if tc.q == "" && tc.size == "" {
				require.Equal(t, (len(all)+sitePageSize-1)/sitePageSize, pages)
			}
		})
	}

	// a search that finds nothing in what one request may read says where to go on
	got, next := page(url.Values{"q": {"nothing matches"}})
	require.Empty(t, got)
	require.NotEmpty(t, next)
	require.Equal(t, scanCalls, lib.lists)

	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/site/api/videos?q="+strings.Repeat("x", maxQuery+1), nil))
	require.Equal(t, http.StatusBadRequest, w.Code)
	w = httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/site/api/videos?pageToken="+cursor{Token: "after:nope"}.encode(), nil))
	require.Equal(t, http.StatusBadRequest, w.Code)
}
