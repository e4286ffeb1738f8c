package library

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// SitePrefix is where the public site's video API is served (its other calls, /site/api/live and
// /site/api/config, are the manager's).
const SitePrefix = "/site/api/"

const (
	sitePageSize    = 20
	maxSitePageSize = 50
	// scanPage is the page size the site reads the library in when it searches titles; scanCalls bounds
	// the ListVideos calls one request makes (a search that finds few matches answers what it found and
	// a nextPageToken that continues after what it read).
	scanPage  = 100
	scanCalls = 5
	// maxQuery bounds the search text.
	maxQuery = 200
)

// Site serves the public site's videos under /site/api/, without sign-in: the list of public, ready
// videos and the watch data of a video. Private videos play only with a share link (ShareQuery).
type Site struct {
	vod    vod
	secret []byte
	log    *slog.Logger
	mux    *http.ServeMux
	now    func() time.Time
}

// NewSite makes the public video API on the VOD service c, called with the service's admin token;
// secret signs share links (empty: private videos are never shown).
func NewSite(c vodv1.VideoServiceClient, token string, secret []byte, log *slog.Logger) *Site {
	s := &Site{vod: vod{c: c, token: token}, secret: secret, log: log.With("component", "vod-site"), mux: http.NewServeMux(), now: time.Now}
	s.mux.HandleFunc("GET "+SitePrefix+"videos", s.list)
	s.mux.HandleFunc(SitePrefix+"videos", notAllowed("GET, HEAD"))
	s.mux.HandleFunc("GET "+SitePrefix+"videos/{id}", s.get)
	s.mux.HandleFunc(SitePrefix+"videos/{id}", notAllowed("GET, HEAD"))
	s.mux.HandleFunc("/", notFound)
	return s
}

func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// ShareQuery makes the query a share link of a private video carries (?exp=...&sig=...): it lets anyone
// holding it watch the video until now+ttl. sig is base64url(HMAC-SHA256(secret, id + "\n" + exp)), exp
// in Unix seconds.
func ShareQuery(secret []byte, id string, ttl time.Duration, now time.Time) url.Values {
	exp := strconv.FormatInt(now.Add(ttl).Unix(), 10)
	return url.Values{"exp": {exp}, "sig": {base64.RawURLEncoding.EncodeToString(shareMAC(secret, id, exp))}}
}

func shareMAC(secret []byte, id, exp string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id + "\n" + exp))
	return m.Sum(nil)
}

// shared reports whether q carries a valid, unexpired share signature for video id, and until when.
func (s *Site) shared(id string, q url.Values, now time.Time) (time.Time, bool) {
	exp, sig := q.Get("exp"), q.Get("sig")
	if len(s.secret) == 0 || exp == "" || sig == "" {
		return time.Time{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, shareMAC(s.secret, id, exp)) { // constant time
		return time.Time{}, false
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || e <= now.Unix() {
		return time.Time{}, false
	}
	return time.Unix(e, 0), true
}

// errNoVideo is the one answer for a video the site does not show: missing, not ready, private without
// a share link. Which of them is not told.
var errNoVideo = failf(http.StatusNotFound, "video not found")

func (s *Site) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, cancel := s.vod.call(r.Context())
	v, err := s.vod.c.GetVideo(ctx, &vodv1.GetVideoRequest{Id: id})
	cancel()
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound, codes.InvalidArgument:
		s.fail(w, r, errNoVideo)
		return
	default:
		s.fail(w, r, err)
		return
	}
	if v.GetStatus() != vodv1.Status_STATUS_READY {
		s.fail(w, r, errNoVideo)
		return
	}
	ttl := urlTTL
	if v.GetVisibility() != vodv1.Visibility_VISIBILITY_PUBLIC && v.GetVisibility() != vodv1.Visibility_VISIBILITY_UNLISTED {
		now := s.now()
		exp, ok := s.shared(v.GetId(), r.URL.Query(), now)
		if !ok {
			s.fail(w, r, errNoVideo)
			return
		}
		// the playback URLs expire with the share link (at most urlTTL later)
		ttl = min(urlTTL, max(exp.Sub(now), time.Second))
		w.Header().Set("Cache-Control", "no-store")
	}
	p, err := s.vod.playback(r.Context(), v.GetId(), ttl)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p == nil { // deleted or reprocessed meanwhile
		s.fail(w, r, errNoVideo)
		return
	}
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-cache")
	}
	writeJSON(w, http.StatusOK, toPublicVideoJSON(v, p))
}

// siteListJSON is a page of the public list.
type siteListJSON struct {
	Videos        []publicItemJSON `json:"videos"`
	NextPageToken string           `json:"nextPageToken"`
}

// cursor is where a page of the public list starts: skip videos into the service's page at token. The
// service's pages are keyset pages (after a video), so a page read again at the same token starts with
// the same videos whatever its size.
type cursor struct {
	Token string `json:"t,omitempty"`
	Skip  int    `json:"k,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, bool) {
	var c cursor
	if s == "" {
		return c, true
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Skip < 0 || c.Skip >= scanPage {
		return cursor{}, false
	}
	return c, true
}

func (s *Site) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := strings.ToLower(strings.TrimSpace(q.Get("q")))
	if len(query) > maxQuery || !utf8.ValidString(query) {
		s.fail(w, r, fieldf("q", "q must be valid UTF-8 of at most %d bytes", maxQuery))
		return
	}
	want := sitePageSize
	if ps := q.Get("pageSize"); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > maxSitePageSize {
			s.fail(w, r, fieldf("pageSize", "pageSize must be 1 to %d", maxSitePageSize))
			return
		}
		want = n
	}
	cur, ok := decodeCursor(q.Get("pageToken"))
	if !ok {
		s.fail(w, r, fieldf("pageToken", "pageToken is not one this site made"))
		return
	}
	found, next, err := s.scan(r, query, cur, want)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ps, err := s.vod.playbacks(r.Context(), found, urlTTL)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := siteListJSON{Videos: make([]publicItemJSON, len(found))}
	if next != nil {
		out.NextPageToken = next.encode()
	}
	for i, v := range found {
		out.Videos[i] = publicItemJSON{ID: v.GetId(), Title: v.GetTitle(), DurationSeconds: v.GetDurationSeconds(),
			CreatedAt: stamp(v.GetCreatedAt()), Poster: ps[i].GetPoster()}
	}
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, out)
}

// scan reads public, ready videos from cur, newest first, until it has want of those whose title
// contains query (any, when query is ""), or has made scanCalls calls; next is where the following page
// starts (nil at the end of the library).
func (s *Site) scan(r *http.Request, query string, cur cursor, want int) (found []*vodv1.Video, next *cursor, err error) {
	for range scanCalls {
		size := scanPage
		if query == "" {
			size = min(scanPage, cur.Skip+want-len(found))
		}
		ctx, cancel := s.vod.call(r.Context())
		res, err := s.vod.c.ListVideos(ctx, &vodv1.ListVideosRequest{Status: vodv1.Status_STATUS_READY,
			Visibility: vodv1.Visibility_VISIBILITY_PUBLIC, PageSize: int32(size), PageToken: cur.Token})
		cancel()
		if status.Code(err) == codes.InvalidArgument {
			return nil, nil, fieldf("pageToken", "pageToken is not one this site made")
		}
		if err != nil {
			return nil, nil, err
		}
		page := res.GetVideos()
		for i := min(cur.Skip, len(page)); i < len(page); i++ {
			v := page[i]
			if query != "" && !strings.Contains(strings.ToLower(v.GetTitle()), query) {
				continue
			}
			found = append(found, v)
			if len(found) < want {
				continue
			}
			switch {
			case i+1 < len(page):
				return found, &cursor{Token: cur.Token, Skip: i + 1}, nil
			case res.GetNextPageToken() != "":
				return found, &cursor{Token: res.GetNextPageToken()}, nil
			}
			return found, nil, nil
		}
		if res.GetNextPageToken() == "" {
			return found, nil, nil
		}
		cur = cursor{Token: res.GetNextPageToken()}
	}
	return found, &cur, nil
}

func (s *Site) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.log, err, true)
}
