package node

import (
	"fmt"
	"net/http"
	"time"

	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/nodeapi"
)

// stoppedByOperator is the cause the log gives for a publisher the publisher API stopped.
const stoppedByOperator = "stopped by the operator"

// publisherAPI lets the manager (or an operator with the cluster secret) stop the publisher of a stream
// (DELETE nodeapi.PathPublishers): its connection is closed, whatever its protocol, and the answer comes
// once the stream has ended. Its credentials still hold: it may publish again.
func (n *Node) publisherAPI(w http.ResponseWriter, r *http.Request) {
	if !n.clusterAuth(w, r, "the publisher API") {
		return
	}
	p, err := stream.ParsePath(r.PathValue("app") + "/" + r.PathValue("stream"))
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	s := n.registry.Get(p)
	switch {
	case s == nil:
		jsonError(w, http.StatusNotFound, fmt.Sprintf("stream %s is not published on this node", p))
		return
	case s.Rendition != nil:
		jsonError(w, http.StatusConflict, fmt.Sprintf("%s is a rendition of %s made for its ladder: stop the publisher of %s", p, s.Rendition.Of, s.Rendition.Of))
		return
	case nodeapi.IsViaTranscoder(s.Protocol):
		jsonError(w, http.StatusConflict, fmt.Sprintf("%s is published to a transcoder node, which gives it to this origin: its publisher cannot be stopped here", p))
		return
	}
	n.log.Info("publisher stopped", "stream", p.String(), "protocol", s.Protocol, "remote", s.Remote, "cause", stoppedByOperator)
	s.Close()
	// the publisher's session ends the stream as soon as it sees its connection closed
	deadline := time.Now().Add(publisherStopWait)
	for n.registry.Get(p) == s && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	w.WriteHeader(http.StatusNoContent)
}

// publisherStopWait bounds how long the publisher API waits for a stopped publisher's stream to end.
const publisherStopWait = 2 * time.Second
