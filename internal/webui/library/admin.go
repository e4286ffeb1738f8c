package library

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// AdminPrefix is where the console's VOD API is served.
const AdminPrefix = "/api/v1/vod/"

// uploadsPath is the tus endpoint; an upload's URL is uploadsPath + "/" + its id.
const uploadsPath = AdminPrefix + "uploads"

// maxPatchBody bounds the JSON body of a video change (a description is at most 8 KiB).
const maxPatchBody = 64 << 10

// Admin serves the console's VOD API under /api/v1/vod/: the library (every owner's videos) and tus
// uploads. Every request goes through the Authorizer first; the VOD service is called with its admin token.
type Admin struct {
	// MaxSize, when set, is advertised as Tus-Max-Size and refuses larger uploads with 413 before the
	// service is asked (it should be the service's vod.maxUploadSize). Set it before serving.
	MaxSize int64
	// ShareSecret signs the public site's links to private videos (POST .../videos/{id}/share); the site
	// checks them with the same secret (NewSite). Empty: no links are made.
	ShareSecret []byte
	now         func() time.Time

	vod  vod
	auth Authorizer
	log  *slog.Logger
	mux  *http.ServeMux

	mu    sync.Mutex
	locks map[string]*uploadLock // uploads a request of this handler is working on, by id
}

// NewAdmin makes the console's VOD API on the VOD service c, called with the service's admin token.
func NewAdmin(c vodv1.VideoServiceClient, token string, auth Authorizer, log *slog.Logger) *Admin {
	a := &Admin{vod: vod{c: c, token: token}, auth: auth, log: log.With("component", "vod-library"),
		mux: http.NewServeMux(), locks: map[string]*uploadLock{}}
	m := a.mux
	m.HandleFunc("GET "+AdminPrefix+"videos", a.list)
	m.HandleFunc(AdminPrefix+"videos", notAllowed("GET, HEAD"))
	m.HandleFunc("GET "+AdminPrefix+"videos/{id}", a.get)
	m.HandleFunc("PATCH "+AdminPrefix+"videos/{id}", a.update)
	m.HandleFunc("DELETE "+AdminPrefix+"videos/{id}", a.delete)
	m.HandleFunc(AdminPrefix+"videos/{id}", notAllowed("GET, HEAD, PATCH, DELETE"))
	m.HandleFunc("POST "+AdminPrefix+"videos/{id}/share", a.share)

	m.HandleFunc("OPTIONS "+uploadsPath, a.tusOptions)
	m.HandleFunc("POST "+uploadsPath, a.tus(a.create))
	m.HandleFunc(uploadsPath, notAllowed("OPTIONS, POST"))
	m.HandleFunc("OPTIONS "+uploadsPath+"/{id}", a.tusOptions)
	m.HandleFunc("HEAD "+uploadsPath+"/{id}", a.tus(a.head))
	m.HandleFunc("PATCH "+uploadsPath+"/{id}", a.tus(a.patch))
	m.HandleFunc("DELETE "+uploadsPath+"/{id}", a.tus(a.terminate))
	m.HandleFunc("POST "+uploadsPath+"/{id}", a.tus(a.override))
	m.HandleFunc(uploadsPath+"/{id}", notAllowed("OPTIONS, HEAD, PATCH, DELETE"))

	m.HandleFunc(AdminPrefix, notFound)
	return a
}

// ServeHTTP authorizes the request, then serves it.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == uploadsPath || strings.HasPrefix(r.URL.Path, uploadsPath+"/") {
		w.Header().Set("Tus-Resumable", tusVersion) // on every tus answer, refusals included
	}
	if !a.auth.Authorize(w, r) {
		return
	}
	a.mux.ServeHTTP(w, r)
}

// listJSON is a page of the library.
type listJSON struct {
	Videos        []videoJSON `json:"videos"`
	NextPageToken string      `json:"nextPageToken"`
}

func (a *Admin) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := &vodv1.ListVideosRequest{PageToken: q.Get("pageToken")}
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			a.fail(w, r, fieldf("pageSize", "pageSize must be 1 to 100, not %q", s))
			return
		}
		req.PageSize = int32(n)
	}
	ctx, cancel := a.vod.call(r.Context())
	res, err := a.vod.c.ListVideos(ctx, req)
	cancel()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ps, err := a.vod.playbacks(r.Context(), res.GetVideos(), urlTTL)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := listJSON{Videos: make([]videoJSON, len(res.GetVideos())), NextPageToken: res.GetNextPageToken()}
	for i, v := range res.GetVideos() {
		out.Videos[i] = toVideoJSON(v, ps[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) get(w http.ResponseWriter, r *http.Request) {
	v, p, err := a.vod.withPlayback(r.Context(), r.PathValue("id"), urlTTL)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toVideoJSON(v, p))
}

// shareTTL bounds the life of a share link; a request may ask for less (ttlSeconds).
const shareTTL = 30 * 24 * time.Hour

// shareLink is the answer of POST /api/v1/vod/videos/{id}/share: the site's watch page of the video with a
// signature that lets its holder watch it even while it is private, until ExpiresAt.
type shareLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (a *Admin) share(w http.ResponseWriter, r *http.Request) {
	if len(a.ShareSecret) == 0 {
		a.fail(w, r, failf(http.StatusServiceUnavailable, "share links are not configured on this manager"))
		return
	}
	ttl := shareTTL
	if q := r.URL.Query().Get("ttlSeconds"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 60 || time.Duration(n)*time.Second > shareTTL {
			a.fail(w, r, failf(http.StatusBadRequest, "ttlSeconds must be a whole number from 60 to %d", int(shareTTL.Seconds())))
			return
		}
		ttl = time.Duration(n) * time.Second
	}
	id := r.PathValue("id")
	// the video must exist: a link to nothing would only fail later
	cctx, cancel := a.vod.call(r.Context())
	_, err := a.vod.c.GetVideo(cctx, &vodv1.GetVideoRequest{Id: id})
	cancel()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := time.Now()
	if a.now != nil {
		now = a.now()
	}
	q := ShareQuery(a.ShareSecret, id, ttl, now)
	exp, _ := strconv.ParseInt(q.Get("exp"), 10, 64)
	a.log.Info("share link made", "video", id, "expires", time.Unix(exp, 0).UTC())
	writeJSON(w, http.StatusOK, shareLink{URL: "/watch/" + url.PathEscape(id) + "?" + q.Encode(), ExpiresAt: time.Unix(exp, 0).UTC()})
}

// videoChange is the body of PATCH /api/v1/vod/videos/{id}: the fields present are changed.
type videoChange struct {
	Title       *string `json:"title"`
	Description *string `json:"description"`
	Visibility  *string `json:"visibility"`
}

func (a *Admin) update(w http.ResponseWriter, r *http.Request) {
	var ch videoChange
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPatchBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ch); err != nil {
		a.fail(w, r, bodyError(err))
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		a.fail(w, r, failf(http.StatusBadRequest, "the body must be one JSON object"))
		return
	}
	req := &vodv1.UpdateVideoRequest{Id: r.PathValue("id"), Title: ch.Title, Description: ch.Description}
	if ch.Visibility != nil {
		vis, ok := parseVisibility(*ch.Visibility)
		if !ok {
			a.fail(w, r, fieldf("visibility", "visibility must be public, unlisted or private, not %q", *ch.Visibility))
			return
		}
		req.Visibility = vis
	}
	ctx, cancel := a.vod.call(r.Context())
	v, err := a.vod.c.UpdateVideo(ctx, req)
	cancel()
	if err != nil {
		a.fail(w, r, withField(err))
		return
	}
	var p *vodv1.Playback
	if v.GetStatus() == vodv1.Status_STATUS_READY { // its URLs depend on the visibility just set
		if p, err = a.vod.playback(r.Context(), v.GetId(), urlTTL); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, toVideoJSON(v, p))
}

// bodyError explains a JSON body that could not be read.
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	var unknown *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return failf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", tooLarge.Limit)
	case errors.As(err, &unknown):
		return fieldf(unknown.Field, "%s must be a string", unknown.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fieldf(field, "unknown field %q (title, description and visibility can be changed)", field)
	case errors.Is(err, io.EOF):
		return failf(http.StatusBadRequest, "the body is empty; send a JSON object")
	}
	return failf(http.StatusBadRequest, "the body is not a JSON object: %v", err)
}

// withField names the field a refusal of UpdateVideo is about when the service's message says which
// (it names the proto field first: "title must be ...").
func withField(err error) error {
	code, msg := statusOf(err)
	if code != http.StatusBadRequest || strings.Contains(msg, "; ") {
		return err
	}
	for _, f := range []string{"title", "description", "visibility"} {
		if strings.HasPrefix(msg, f+" ") || strings.HasPrefix(msg, "unknown "+f) {
			return &httpError{code: code, msg: msg, field: f}
		}
	}
	return err
}

func (a *Admin) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// an upload of this handler still writing the video would make the service refuse: stop it first
	unlock, err := a.lock(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer unlock()
	ctx, cancel := a.vod.call(r.Context())
	_, err = a.vod.c.DeleteVideo(ctx, &vodv1.DeleteVideoRequest{Id: id})
	cancel()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Admin) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, a.log, err, false)
}
