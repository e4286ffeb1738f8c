package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/store"
)

// ---- provisioned ladders: the renditions an origin makes of a stream ----

// Bounds of a provisioned ladder.
const (
	maxRungs      = 16
	maxRungHeight = 4320 // 8K
	maxBitrate    = 200_000_000
	maxRungName   = 32
)

// ladderField names a field of rung i in the caller's own JSON, for error messages.
type ladderField func(i int, field string) string

// validateLadder checks a ladder of stream (app/name) before it is stored; errors name the field.
func validateLadder(stream string, l store.Ladder, at ladderField) error {
	if len(l.Rungs) == 0 || len(l.Rungs) > maxRungs {
		return invalid("%s: a ladder has 1 to %d rungs, not %d", at(-1, ""), maxRungs, len(l.Rungs))
	}
	if l.AudioBitrate < 0 || l.AudioBitrate > maxBitrate {
		return invalid("audioBitrate %d must be between 0 (the origin's) and %d", l.AudioBitrate, maxBitrate)
	}
	_, name, _ := strings.Cut(stream, "/")
	seen := map[string]bool{}
	for i, r := range l.Rungs {
		switch {
		case !validRungName(r.Name):
			return invalid("%s %q must match [a-z0-9_-]{1,%d}", at(i, "name"), clip(r.Name), maxRungName)
		case !validStreamName(name + "_" + r.Name):
			return invalid("%s %q: the rendition's name %s_%s is longer than %d", at(i, "name"), r.Name, clip(name), r.Name, store.MaxName)
		case reservedRung(r.Name):
			return invalid("%s %q is a name the ladder's own renditions take (source, audio)", at(i, "name"), r.Name)
		case seen[r.Name]:
			return invalid("%s %q is used twice", at(i, "name"), r.Name)
		case r.Height <= 0 || r.Height%2 != 0 || r.Height > maxRungHeight:
			return invalid("%s %d must be an even number of pixels from 2 to %d", at(i, "height"), r.Height, maxRungHeight)
		case r.Width < 0 || r.Width > 2*maxRungHeight:
			return invalid("%s %d must be from 0 (the source's aspect ratio) to %d", at(i, "width"), r.Width, 2*maxRungHeight)
		case r.VideoBitrate <= 0 || r.VideoBitrate > maxBitrate:
			return invalid("%s %d must be between 1 and %d bit/s", at(i, "videoBitrate"), r.VideoBitrate, maxBitrate)
		case r.FrameRate < 0 || r.FrameRate > 240 || math.IsNaN(r.FrameRate):
			return invalid("%s %v must be 0 (the source's) or a cap up to 240", at(i, "frameRate"), r.FrameRate)
		case r.MaxRate != 0 && (r.MaxRate < r.VideoBitrate || r.MaxRate > maxBitrate):
			return invalid("%s %d must be 0 (1.5 × the bit rate) or between the bit rate %d and %d", at(i, "maxRate"), r.MaxRate, r.VideoBitrate, maxBitrate)
		}
		seen[r.Name] = true
	}
	return nil
}

// reservedRung reports whether an origin names one of a ladder's own renditions so: the source's video
// and its audio (stream.ReservedRung).
func reservedRung(s string) bool { return s == "source" || s == "audio" }

func validRungName(s string) bool {
	if len(s) == 0 || len(s) > maxRungName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// putLadder provisions the ladder of app/name.
func (s *Server) putLadder(ctx context.Context, app, name string, l store.Ladder, at ladderField) (store.Ladder, error) {
	path, err := streamPath(app, name)
	if err != nil {
		return l, err
	}
	if err := validateLadder(path, l, at); err != nil {
		return l, err
	}
	l.Stream, l.UpdatedAt = path, s.now().UTC().Truncate(1e6)
	if err := s.Store.PutLadder(ctx, l); err != nil {
		return l, fmt.Errorf("provisioning the ladder of %s: %w", path, err)
	}
	s.Log.Info("ladder provisioned", "stream", path, "rungs", len(l.Rungs))
	return l, nil
}

func (s *Server) ladder(ctx context.Context, app, name string) (store.Ladder, error) {
	path, err := streamPath(app, name)
	if err != nil {
		return store.Ladder{}, err
	}
	return s.Store.GetLadder(ctx, path)
}

func (s *Server) deleteLadder(ctx context.Context, app, name string) (store.Ladder, error) {
	l, err := s.ladder(ctx, app, name)
	if err != nil {
		return l, err
	}
	if err := s.Store.DeleteLadder(ctx, l.Stream); err != nil {
		return l, err
	}
	s.Log.Info("ladder removed", "stream", l.Stream)
	return l, nil
}

// ---- native ----

func ladderToAPI(l store.Ladder) apitypes.Ladder {
	out := apitypes.Ladder{Stream: l.Stream, AudioBitrate: l.AudioBitrate, UpdatedAt: l.UpdatedAt, Rungs: []apitypes.LadderRung{}}
	for _, r := range l.Rungs {
		out.Rungs = append(out.Rungs, apitypes.LadderRung{Name: r.Name, Height: r.Height, VideoBitrate: r.VideoBitrate, MaxRate: r.MaxRate, FrameRate: r.FrameRate})
	}
	return out
}

func (n nativeAPI) putLadder(w http.ResponseWriter, r *http.Request) error {
	var spec apitypes.LadderSpec
	if err := decode(r, &spec, refuseUnknown); err != nil {
		return err
	}
	l := store.Ladder{AudioBitrate: spec.AudioBitrate}
	for _, rg := range spec.Rungs {
		l.Rungs = append(l.Rungs, store.LadderRung{Name: rg.Name, Height: rg.Height, VideoBitrate: rg.VideoBitrate, MaxRate: rg.MaxRate, FrameRate: rg.FrameRate})
	}
	l, err := n.s.putLadder(r.Context(), r.PathValue("app"), r.PathValue("stream"), l, func(i int, field string) string {
		if i < 0 {
			return "rungs"
		}
		return fmt.Sprintf("rungs[%d].%s", i, field)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ladderToAPI(l))
	return nil
}

func (n nativeAPI) getLadder(w http.ResponseWriter, r *http.Request) error {
	l, err := n.s.ladder(r.Context(), r.PathValue("app"), r.PathValue("stream"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ladderToAPI(l))
	return nil
}

func (n nativeAPI) deleteLadder(w http.ResponseWriter, r *http.Request) error {
	if _, err := n.s.deleteLadder(r.Context(), r.PathValue("app"), r.PathValue("stream")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (n nativeAPI) listLadders(w http.ResponseWriter, r *http.Request) error {
	ls, err := n.s.Store.ListLadders(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(ls, ladderToAPI))
	return nil
}

// ---- Red5: POST/GET/DELETE …/admin/event/meta/{scope}/{stream} ----

// red5Provision is Red5's stream provision: {"meta": {"stream": [{"name": "stream1_1", "level": 1,
// "properties": {"videoBR": 2000000, "videoWidth": 1280, "videoHeight": 720}}, …], …}}. Its other fields
// (authentication, georules, qos) are accepted and not used.
type red5Provision struct {
	Meta *struct {
		Stream []red5ProvisionStream `json:"stream"`
	} `json:"meta"`
}

type red5ProvisionStream struct {
	Name       string  `json:"name"`
	Level      flexInt `json:"level"`
	Properties struct {
		VideoBR     flexInt `json:"videoBR"`
		VideoWidth  flexInt `json:"videoWidth"`
		VideoHeight flexInt `json:"videoHeight"`
	} `json:"properties"`
}

// red5ProvisionOf renders a stored ladder as Red5 answers a provision.
func red5ProvisionOf(l store.Ladder) map[string]any {
	_, name, _ := strings.Cut(l.Stream, "/")
	streams := make([]map[string]any, 0, len(l.Rungs))
	for i, r := range l.Rungs {
		level := r.Level
		if level == 0 {
			level = i + 1
		}
		streams = append(streams, map[string]any{"name": name + "_" + r.Name, "level": level,
			"properties": map[string]int{"videoBR": r.VideoBitrate, "videoWidth": r.Width, "videoHeight": r.Height}})
	}
	return map[string]any{"meta": map[string]any{"stream": streams}}
}

func (a red5API) provision(w http.ResponseWriter, r *http.Request) error {
	var p red5Provision
	if err := decode(r, &p, ignoreUnknown); err != nil {
		return err
	}
	if p.Meta == nil {
		return invalid(`the body must be {"meta": {"stream": [...]}}`)
	}
	name := r.PathValue("stream")
	l := store.Ladder{}
	for i, st := range p.Meta.Stream {
		rung, ok := strings.CutPrefix(st.Name, name+"_")
		if !ok {
			return invalid("meta.stream[%d].name %q must be %s_<level>: the rendition is a stream of that name", i, clip(st.Name), clip(name))
		}
		l.Rungs = append(l.Rungs, store.LadderRung{Name: rung, Level: int(st.Level), Width: int(st.Properties.VideoWidth),
			Height: int(st.Properties.VideoHeight), VideoBitrate: int(st.Properties.VideoBR)})
	}
	red5Names := map[string]string{"name": "name", "height": "properties.videoHeight", "width": "properties.videoWidth",
		"videoBitrate": "properties.videoBR", "maxRate": "properties.videoBR"}
	l, err := a.s.putLadder(r.Context(), r.PathValue("scope"), name, l, func(i int, field string) string {
		if i < 0 {
			return "meta.stream"
		}
		return fmt.Sprintf("meta.stream[%d].%s", i, red5Names[field])
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red5ProvisionOf(l))
	return nil
}

func (a red5API) getProvision(w http.ResponseWriter, r *http.Request) error {
	l, err := a.s.ladder(r.Context(), r.PathValue("scope"), r.PathValue("stream"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red5ProvisionOf(l))
	return nil
}

func (a red5API) deleteProvision(w http.ResponseWriter, r *http.Request) error {
	l, err := a.s.deleteLadder(r.Context(), r.PathValue("scope"), r.PathValue("stream"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red5ProvisionOf(l))
	return nil
}
