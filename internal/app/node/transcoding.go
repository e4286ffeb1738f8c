package node

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/transcode"
	"github.com/nagare-video/nagare/internal/nodeapi"
)

// clusterStream checks that r carries the cluster secret and names a sound stream path; otherwise it
// answers, and ok is false.
func (n *Node) clusterStream(w http.ResponseWriter, r *http.Request, what string) (p stream.Path, ok bool) {
	if !n.clusterAuth(w, r, what) {
		return p, false
	}
	p, err := stream.ParsePath(r.PathValue("app") + "/" + r.PathValue("stream"))
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return p, false
	}
	return p, true
}

// sourceAPI answers a transcoder node that takes a live stream of this origin: the stream as MPEG-TS,
// from its next keyframe, until it ends (nodeapi.PathSources).
func (n *Node) sourceAPI(w http.ResponseWriter, r *http.Request) {
	p, ok := n.clusterStream(w, r, "the source API")
	if !ok {
		return
	}
	st := n.registry.Get(p)
	if st == nil || st.Rendition != nil {
		jsonError(w, http.StatusNotFound, "stream "+p.String()+" is not published on this node")
		return
	}
	w.Header().Set("Content-Type", "video/mp2t")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flush := func() error { return http.NewResponseController(w).Flush() }
	n.log.Info("transcoder takes the stream", "stream", p.String(), "remote", r.RemoteAddr)
	if err := transcode.WriteTS(r.Context(), st, nil, w, flush); err != nil && r.Context().Err() == nil {
		n.log.Warn("source for a transcoder ended", "stream", p.String(), "cause", err)
	}
}

// sourcePushAPI publishes a stream that a publisher publishes to a transcoder node, which gives it to
// this origin (POST nodeapi.PathSources, ?protocol= the publisher's), for as long as the request's body
// goes on. The renditions follow through the rendition API.
func (n *Node) sourcePushAPI(w http.ResponseWriter, r *http.Request) {
	p, ok := n.clusterStream(w, r, "the source API")
	if !ok {
		return
	}
	proto := r.URL.Query().Get("protocol")
	if !validProtocol(proto) {
		jsonError(w, http.StatusBadRequest, "protocol must be the publisher's: 1 to 16 of a-z and 0-9")
		return
	}
	n.log.Info("stream from a transcoder", "stream", p.String(), "protocol", proto, "remote", r.RemoteAddr)
	n.publishFromTranscoder(w, r, transcode.Publication{Path: p, Protocol: nodeapi.ViaTranscoder(proto), Remote: r.RemoteAddr})
}

// validProtocol reports whether s is a protocol's short name.
func validProtocol(s string) bool {
	if len(s) == 0 || len(s) > 16 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// publishFromTranscoder publishes the MPEG-TS of r's body as pub until the body ends, and answers.
func (n *Node) publishFromTranscoder(w http.ResponseWriter, r *http.Request, pub transcode.Publication) {
	// the body flows for as long as the stream lives: the server's read timeout becomes an idle timeout
	body := idleReader{r: r.Body, rc: http.NewResponseController(w), idle: renditionIdle}
	err := transcode.PublishTS(n.registry, body, pub, n.log)
	switch {
	case errors.Is(err, stream.ErrAlreadyPublishing):
		jsonError(w, http.StatusConflict, err.Error())
	case err != nil:
		n.log.Warn("stream from a transcoder ended", "stream", pub.Path.String(), "cause", err)
		jsonError(w, http.StatusBadRequest, err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// ownLadders passes to the origin's own transcoder the streams whose ladder is made here: not those a
// transcoder node gives with their renditions.
type ownLadders struct{ stream.Listener }

func (o ownLadders) StreamStarted(st *stream.Stream) {
	if !nodeapi.IsViaTranscoder(st.Protocol) {
		o.Listener.StreamStarted(st)
	}
}

func (o ownLadders) StreamEnded(st *stream.Stream) {
	if !nodeapi.IsViaTranscoder(st.Protocol) {
		o.Listener.StreamEnded(st)
	}
}

// renditionIdle is how long a rendition's body may send nothing before the origin drops it.
const renditionIdle = 10 * time.Second

// idleReader reads a long request body with a deadline that moves with every read: the connection is
// dropped when the body stops, not when it has flowed for long.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (i idleReader) Read(p []byte) (int, error) {
	_ = i.rc.SetReadDeadline(time.Now().Add(i.idle))
	return i.r.Read(p)
}

// renditionAPI publishes a rendition a transcoder node makes of a live stream of this origin, for as long
// as the request's body goes on (nodeapi.PathRenditions).
func (n *Node) renditionAPI(w http.ResponseWriter, r *http.Request) {
	p, ok := n.clusterStream(w, r, "the rendition API")
	if !ok {
		return
	}
	q := r.URL.Query()
	of, err := stream.ParsePath(p.App + "/" + q.Get("of"))
	if err != nil {
		jsonError(w, http.StatusBadRequest, "of: "+err.Error())
		return
	}
	if want, err := stream.RenditionPath(of, q.Get("rung")); err != nil || want != p {
		jsonError(w, http.StatusBadRequest, "the rendition of "+of.String()+" named by rung must be "+of.String()+"_<rung>")
		return
	}
	bandwidth, err := strconv.Atoi(q.Get("bandwidth"))
	if err != nil || bandwidth < 0 {
		jsonError(w, http.StatusBadRequest, "bandwidth must be a whole number of bit/s")
		return
	}
	if src := n.registry.Get(of); src == nil || src.Rendition != nil {
		jsonError(w, http.StatusNotFound, "stream "+of.String()+" is not published on this node")
		return
	}
	n.log.Info("rendition from a transcoder", "stream", p.String(), "remote", r.RemoteAddr)
	n.publishFromTranscoder(w, r, transcode.Publication{
		Path: p, Protocol: nodeapi.ProtocolTranscoder, Remote: r.RemoteAddr,
		Rendition: &stream.Rendition{Of: of, Rung: q.Get("rung"), Bandwidth: bandwidth},
	})
}
