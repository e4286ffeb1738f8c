package nodeapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// PathDrain is the endpoint on a node's HTTP port that Kubernetes' preStop hook calls before the pod is
// stopped (a GET: the kubelet's httpGet action knows no other method): the node tells its manager it is
// draining, in its next load report, so that no new viewers or publishers are sent to it, and the call
// returns once the node is empty or after ?timeout= (a Go duration, at most MaxDrainWait), saying which.
// It takes the node's DrainToken or the cluster secret as a Bearer token.
const PathDrain = "/api/v1/drain"

// MaxDrainWait bounds the wait of a PathDrain call.
const MaxDrainWait = time.Hour

// DrainToken is the credential of a node's PathDrain endpoint: an HMAC of its node id under the cluster
// secret. The kubernetes controller writes it into the pod's preStop hook, which the kubelet cannot fill
// from a Secret; it can drain that one node and nothing else, and does not reveal the cluster secret.
func DrainToken(clusterSecret, nodeID string) string {
	mac := hmac.New(sha256.New, []byte(clusterSecret))
	mac.Write([]byte("nagare drain\x00" + nodeID))
	return hex.EncodeToString(mac.Sum(nil))
}
