package api

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/steering"
)

// SteeringPrefix is where the manager answers HLS Content Steering requests:
// GET /steering/v1/<app>/<stream>?port=<the edge's port>&player=<the player's token>&home=<the edge>&_HLS_pathway=<node>.
const SteeringPrefix = "/steering/v1"

// defaultSteeringTTL is the manifests' TTL when the server is not told one.
const defaultSteeringTTL = 5 * time.Second

// steer answers a player's steering request with a steering manifest (RFC 8216bis §7.1): the pathway
// (edge) to load from, cloned from the player's own when it is new to the player. Every answer is the
// player's own (no-store); a player whose edge serves it stays there.
func (s *Server) steer(w http.ResponseWriter, r *http.Request) error {
	if !s.steerLimit.allow(r.RemoteAddr, s.now()) {
		return fmt.Errorf("%w: steering requests are limited to %d a second per address", ErrTooManyRequests, steerRate)
	}
	path, err := streamPath(r.PathValue("app"), r.PathValue("stream"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	req := steering.Request{Path: path, Pathway: q.Get("_HLS_pathway"), Port: q.Get("port"),
		Group: q.Get("group"), Region: q.Get("region"), Player: q.Get("player"), Home: q.Get("home"),
		Storage: s.SteeringStorage}
	if req.Pathway != "" && !steering.ValidPathway(req.Pathway) {
		return invalid("_HLS_pathway %q is not a pathway ID ([A-Za-z0-9._-], at most 64)", clip(req.Pathway))
	}
	if req.Player != "" && !steering.ValidPlayer(req.Player) {
		return invalid("player %q is not a player token ([A-Za-z0-9._-], at most 64)", clip(req.Player))
	}
	if req.Home != "" && !steering.ValidPathway(req.Home) {
		return invalid("home %q is not a pathway ID ([A-Za-z0-9._-], at most 64)", clip(req.Home))
	}
	if req.Port != "" {
		if p, err := strconv.Atoi(req.Port); err != nil || p < 1 || p > 65535 {
			return invalid("port %q must be a TCP port", clip(req.Port))
		}
	}
	d := s.decideSteering(req)
	if d.Moved {
		s.Log.Debug("steering a player to another edge", "stream", path, "from", req.Pathway, "to", d.Priority[0], "reason", d.Reason)
	}
	ttl := s.SteeringTTL
	if ttl <= 0 {
		ttl = defaultSteeringTTL
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, d.Manifest(int(ttl/time.Second), ""))
	return nil
}

// decideSteering is steering.Decide over the cluster now. The decision for the players of one edge
// (asked without the player's token and home) is remembered while the snapshot stands, since they ask
// the same question every TTL; the player's own then only picks the players a rebalance moves
// (Decision.For). A player on the storage pathway goes back to an edge by a clone of its home: for
// those, the home is part of the question.
func (s *Server) decideSteering(req steering.Request) steering.Decision {
	key := req.Path + "\x00" + req.Pathway + "\x00" + req.Port + "\x00" + req.Group + "\x00" + req.Region
	anyone := req
	anyone.Player, anyone.Home = "", ""
	if req.Storage != "" && req.Pathway == req.Storage {
		key += "\x00" + req.Home
		anyone.Home = req.Home
	}
	return remembered(s, &s.steerMemo, key, func(snap selector.Snapshot) steering.Decision {
		return steering.Decide(snap, anyone, s.Weights)
	}).For(req)
}

// A player asks once per TTL; many players may share an address (NAT), so the limit is high and only
// stops floods: steerRate a second per address, in bursts of twice that.
const (
	steerRate    = 200
	steerClients = 100_000 // addresses remembered; past that the idle ones are forgotten (every 10 s at most)
)

// clientLimits rate-limits requests per client address.
type clientLimits struct {
	mu        sync.Mutex
	clients   map[string]*clientLimit
	lastPrune time.Time
}

type clientLimit struct {
	lim  *rate.Limiter
	last time.Time
}

// allow reports whether the client at remote (host:port) may make a request at now.
func (c *clientLimits) allow(remote string, now time.Time) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clients == nil {
		c.clients = map[string]*clientLimit{}
	}
	cl, ok := c.clients[host]
	if !ok {
		if len(c.clients) >= steerClients && now.Sub(c.lastPrune) > 10*time.Second {
			c.lastPrune = now
			for h, o := range c.clients {
				if now.Sub(o.last) > time.Minute {
					delete(c.clients, h)
				}
			}
		}
		if len(c.clients) >= steerClients {
			// more addresses asking within a minute than are remembered: this one goes unlimited
			return true
		}
		cl = &clientLimit{lim: rate.NewLimiter(steerRate, 2*steerRate)}
		c.clients[host] = cl
	}
	cl.last = now
	return cl.lim.AllowN(now, 1)
}
