package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
)

// ---- the public site's live part (/site/api/...), and publish tokens for the console ----

// SiteConfig is what the public site is told of itself (GET /site/api/config).
type SiteConfig struct {
	SiteName string `json:"siteName"`
	// HLS is the hls.js configuration of live playback (the pages' shared settings).
	HLS json.RawMessage `json:"hls,omitempty"`
}

// SiteStream is a live stream as the public site lists it: no node, no protocol, nothing of the cluster.
type SiteStream struct {
	Name      string    `json:"name"`
	StartedAt time.Time `json:"startedAt"`
	Viewers   int       `json:"viewers"`
}

func (s *Server) siteConfig(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, *s.Site)
	return nil
}

// siteLive lists the live streams for the public site's home page.
func (s *Server) siteLive(w http.ResponseWriter, r *http.Request) error {
	streams, err := s.liveStreams(r.Context())
	if err != nil {
		return err
	}
	out := make([]SiteStream, 0, len(streams))
	for _, st := range streams {
		site := SiteStream{Name: st.Name, StartedAt: st.StartedAt}
		if v := st.Viewers; v != nil {
			site.Viewers = v.HLS + v.WebRTC
		}
		out = append(out, site)
	}
	writeJSON(w, http.StatusOK, struct {
		Streams []SiteStream `json:"streams"`
	}{out})
	return nil
}

// maxPublishTokenTTL bounds the tokens the console makes.
const maxPublishTokenTTL = 7 * 24 * time.Hour

func (n nativeAPI) publishToken(w http.ResponseWriter, r *http.Request) error {
	var in apitypes.PublishTokenRequest
	if err := decode(r, &in, refuseUnknown); err != nil {
		return err
	}
	app, name, _ := strings.Cut(in.Stream, "/")
	if !validStreamName(app) || !validStreamName(name) {
		return invalidField("stream", "stream %q must be <app>/<name>, each of [A-Za-z0-9_-]{1,128}", clip(in.Stream))
	}
	ttl := time.Duration(in.TTLSeconds) * time.Second
	if in.TTLSeconds == 0 {
		ttl = time.Hour
	}
	if ttl < time.Minute || ttl > maxPublishTokenTTL {
		return invalidField("ttlSeconds", "ttlSeconds %d must be between 60 and %d", in.TTLSeconds, int(maxPublishTokenTTL.Seconds()))
	}
	if n.s.PublishToken == nil {
		return fmt.Errorf("%w: this manager cannot sign publish tokens: set manager.publishTokenSecret to the nodes' publish.tokenSecret", ErrNoPublishTokens)
	}
	tok, exp, err := n.s.PublishToken(app+"/"+name, ttl)
	if err != nil {
		return err
	}
	n.s.Log.Info("publish token made through the API", "stream", app+"/"+name, "expires", exp)
	writeJSON(w, http.StatusOK, apitypes.PublishToken{Token: tok, ExpiresAt: exp.UTC(),
		WHIP: "/" + app + "/" + name + "/whip?token=" + tok})
	return nil
}
