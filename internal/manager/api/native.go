package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// policyBody is a scale policy in the native API.
type policyBody struct {
	Name        string             `json:"name"`
	Description string             `json:"description,omitempty"`
	Targets     []store.RoleLimits `json:"targets"`
	WarmUpMS    int64              `json:"warmUpMs,omitempty"`
	CoolDownMS  int64              `json:"coolDownMs,omitempty"`
	CreatedAt   time.Time          `json:"createdAt,omitzero"`
	UpdatedAt   time.Time          `json:"updatedAt,omitzero"`
}

func (b policyBody) model() store.ScalePolicy {
	return store.ScalePolicy{Name: b.Name, Description: b.Description, Targets: b.Targets,
		WarmUp: time.Duration(b.WarmUpMS) * time.Millisecond, CoolDown: time.Duration(b.CoolDownMS) * time.Millisecond}
}

func policyOut(p store.ScalePolicy) policyBody {
	return policyBody{Name: p.Name, Description: p.Description, Targets: p.Targets, WarmUpMS: p.WarmUp.Milliseconds(),
		CoolDownMS: p.CoolDown.Milliseconds(), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// groupBody is a node group in the native API.
type groupBody struct {
	Name         string   `json:"name"`
	Regions      []string `json:"regions"`
	LaunchConfig string   `json:"launchConfig"`
	ScalePolicy  string   `json:"scalePolicy"`
}

// routeOut is the answer of the native routing calls.
type routeOut struct {
	Stream  string         `json:"stream"`
	NodeID  string         `json:"nodeId"`
	Role    nodemodel.Role `json:"role"`
	Region  string         `json:"region,omitempty"`
	RTMPURL string         `json:"rtmpUrl,omitempty"`
	SRTURL  string         `json:"srtUrl,omitempty"`
	HLSURL  string         `json:"hlsUrl,omitempty"`
}

func newGroupName() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return "group-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Server) nativeRoutes(mux *http.ServeMux) {
	a := func(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc { return s.admin(false, h) }

	mux.HandleFunc("GET /api/v1/scalepolicies", a(func(w http.ResponseWriter, r *http.Request) error {
		ps, err := s.Store.ListPolicies(r.Context())
		if err != nil {
			return err
		}
		out := make([]policyBody, len(ps))
		for i, p := range ps {
			out[i] = policyOut(p)
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}))
	mux.HandleFunc("POST /api/v1/scalepolicies", a(func(w http.ResponseWriter, r *http.Request) error {
		var b policyBody
		if err := decode(r, &b, true); err != nil {
			return err
		}
		p, err := s.createPolicy(r, b.model())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, policyOut(p))
		return nil
	}))
	mux.HandleFunc("GET /api/v1/scalepolicies/{name}", a(func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.Store.GetPolicy(r.Context(), r.PathValue("name"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, policyOut(p))
		return nil
	}))
	mux.HandleFunc("PUT /api/v1/scalepolicies/{name}", a(func(w http.ResponseWriter, r *http.Request) error {
		var b policyBody
		if err := decode(r, &b, true); err != nil {
			return err
		}
		if b.Name != "" && b.Name != r.PathValue("name") {
			return invalid("the body names policy %q but the URL %q", clip(b.Name), clip(r.PathValue("name")))
		}
		b.Name = r.PathValue("name")
		p := b.model()
		if err := validatePolicy(p); err != nil {
			return err
		}
		p, err := s.Store.UpdatePolicy(r.Context(), p)
		if err != nil {
			return err
		}
		s.Log.Info("scale policy updated", "policy", p.Name)
		writeJSON(w, http.StatusOK, policyOut(p))
		return nil
	}))
	mux.HandleFunc("DELETE /api/v1/scalepolicies/{name}", a(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.Store.DeletePolicy(r.Context(), r.PathValue("name")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))

	mux.HandleFunc("GET /api/v1/launchconfigs", a(func(w http.ResponseWriter, r *http.Request) error {
		cs, err := s.Store.ListLaunchConfigs(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, cs)
		return nil
	}))
	mux.HandleFunc("POST /api/v1/launchconfigs", a(func(w http.ResponseWriter, r *http.Request) error {
		var c store.LaunchConfig
		if err := decode(r, &c, true); err != nil {
			return err
		}
		c, err := s.createLaunchConfig(r, c)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, c)
		return nil
	}))
	mux.HandleFunc("GET /api/v1/launchconfigs/{name}", a(func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.Store.GetLaunchConfig(r.Context(), r.PathValue("name"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	}))
	mux.HandleFunc("PUT /api/v1/launchconfigs/{name}", a(func(w http.ResponseWriter, r *http.Request) error {
		var c store.LaunchConfig
		if err := decode(r, &c, true); err != nil {
			return err
		}
		if c.Name != "" && c.Name != r.PathValue("name") {
			return invalid("the body names launch config %q but the URL %q", clip(c.Name), clip(r.PathValue("name")))
		}
		c.Name = r.PathValue("name")
		if err := validateLaunchConfig(c); err != nil {
			return err
		}
		c, err := s.Store.UpdateLaunchConfig(r.Context(), c)
		if err != nil {
			return err
		}
		s.Log.Info("launch config updated", "launchConfig", c.Name)
		writeJSON(w, http.StatusOK, c)
		return nil
	}))
	mux.HandleFunc("DELETE /api/v1/launchconfigs/{name}", a(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.Store.DeleteLaunchConfig(r.Context(), r.PathValue("name")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))

	mux.HandleFunc("GET /api/v1/nodegroups", a(func(w http.ResponseWriter, r *http.Request) error {
		gs, err := s.Store.ListGroups(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, gs)
		return nil
	}))
	mux.HandleFunc("POST /api/v1/nodegroups", a(func(w http.ResponseWriter, r *http.Request) error {
		var b groupBody
		if err := decode(r, &b, true); err != nil {
			return err
		}
		g, err := s.createGroup(r, store.NodeGroup{Name: b.Name, Regions: b.Regions, LaunchConfig: b.LaunchConfig, ScalePolicy: b.ScalePolicy})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, g)
		return nil
	}))
	mux.HandleFunc("GET /api/v1/nodegroups/{name}", a(func(w http.ResponseWriter, r *http.Request) error {
		g, err := s.Store.GetGroup(r.Context(), r.PathValue("name"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, g)
		return nil
	}))
	mux.HandleFunc("DELETE /api/v1/nodegroups/{name}", a(func(w http.ResponseWriter, r *http.Request) error {
		g, err := s.Store.GetGroup(r.Context(), r.PathValue("name")) // by name or id, like GET
		if err != nil {
			return err
		}
		if s.Scaler != nil {
			ids, err := s.Scaler.DeleteGroup(r.Context(), g.Name)
			if err != nil {
				return err
			}
			if len(ids) > 0 {
				// the nodes are being terminated; the group goes with the last of them
				writeJSON(w, http.StatusAccepted, map[string]any{"group": g.Name, "terminating": ids})
				return nil
			}
		} else if err := s.Store.DeleteGroup(r.Context(), g.Name); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))
	mux.HandleFunc("GET /api/v1/nodegroups/{name}/nodes", a(func(w http.ResponseWriter, r *http.Request) error {
		g, err := s.Store.GetGroup(r.Context(), r.PathValue("name"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.Cluster.Nodes(g.Name))
		return nil
	}))

	mux.HandleFunc("POST /api/v1/nodegroups/{name}/nodes/{role}", a(func(w http.ResponseWriter, r *http.Request) error {
		g, err := s.Store.GetGroup(r.Context(), r.PathValue("name"))
		if err != nil {
			return err
		}
		role := nodemodel.Role(r.PathValue("role"))
		if !role.Valid() {
			return invalid("role %q is not origin, relay, edge or transcoder", clip(role))
		}
		if s.Scaler == nil {
			return fmt.Errorf("cannot launch a node of role %s in group %q: %w", role, g.Name, ErrNoController)
		}
		n, err := s.Scaler.Launch(r.Context(), g.Name, role)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, n)
		return nil
	}))
	mux.HandleFunc("GET /api/v1/instances", a(func(w http.ResponseWriter, r *http.Request) error {
		if s.Instances == nil {
			return fmt.Errorf("listing instances: %w", ErrNoController)
		}
		insts, err := s.Instances(r.Context())
		if err != nil {
			return err
		}
		if insts == nil {
			insts = []cloud.Instance{}
		}
		writeJSON(w, http.StatusOK, insts)
		return nil
	}))
	recording := func(on bool) http.HandlerFunc {
		return a(func(w http.ResponseWriter, r *http.Request) error {
			path, err := streamPath(r.PathValue("app"), r.PathValue("stream"))
			if err != nil {
				return err
			}
			if s.Record == nil {
				return fmt.Errorf("recording %s: %w", path, ErrNoOriginToRecord)
			}
			nodes, err := s.Record(r.Context(), path, on)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, map[string]any{"stream": path, "recording": on, "nodes": nodes})
			return nil
		})
	}
	mux.HandleFunc("PUT /api/v1/streams/{app}/{stream}/recording", recording(true))
	mux.HandleFunc("DELETE /api/v1/streams/{app}/{stream}/recording", recording(false))
	mux.HandleFunc("GET /api/v1/scaleevents", a(func(w http.ResponseWriter, r *http.Request) error {
		evs, err := s.Store.ScaleEvents(r.Context(), r.URL.Query().Get("group"), limitParam(r))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, evs)
		return nil
	}))

	mux.HandleFunc("GET /api/v1/nodes", a(func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, s.Cluster.Nodes(r.URL.Query().Get("group")))
		return nil
	}))
	mux.HandleFunc("GET /api/v1/nodes/{id}", a(func(w http.ResponseWriter, r *http.Request) error {
		n, ok := s.Cluster.Node(r.PathValue("id"))
		if !ok {
			return notFoundErr("node", r.PathValue("id"))
		}
		writeJSON(w, http.StatusOK, n)
		return nil
	}))
	mux.HandleFunc("GET /api/v1/nodes/{id}/events", a(func(w http.ResponseWriter, r *http.Request) error {
		if _, ok := s.Cluster.Node(r.PathValue("id")); !ok {
			return notFoundErr("node", r.PathValue("id"))
		}
		evs, err := s.Store.NodeEvents(r.Context(), r.PathValue("id"), limitParam(r))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, evs)
		return nil
	}))
	mux.HandleFunc("POST /api/v1/nodes/{id}/drain", a(func(w http.ResponseWriter, r *http.Request) error {
		n, err := s.Cluster.Transition(r.Context(), r.PathValue("id"), nodemodel.StateDraining, "drained through the API")
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, n)
		return nil
	}))
	mux.HandleFunc("GET /api/v1/events", a(func(w http.ResponseWriter, r *http.Request) error {
		evs, err := s.Store.NodeEvents(r.Context(), "", limitParam(r))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, evs)
		return nil
	}))
	mux.HandleFunc("GET /api/v1/streams", a(func(w http.ResponseWriter, r *http.Request) error {
		ss, err := s.Store.ListStreams(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, ss)
		return nil
	}))
	mux.HandleFunc("GET /api/v1/alarms", a(func(w http.ResponseWriter, r *http.Request) error {
		th, err := s.Store.AlarmThresholds(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, th)
		return nil
	}))
	mux.HandleFunc("PUT /api/v1/alarms/{role}", a(func(w http.ResponseWriter, r *http.Request) error {
		var b struct {
			Threshold int `json:"threshold"`
		}
		if err := decode(r, &b, true); err != nil {
			return err
		}
		th, err := s.setThreshold(r, nodemodel.Role(r.PathValue("role")), b.Threshold)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, th)
		return nil
	}))

	// routing: public, like Red5's event calls
	mux.HandleFunc("GET /api/v1/route/publish/{app}/{stream}", s.public(false, func(w http.ResponseWriter, r *http.Request) error {
		path, err := streamPath(r.PathValue("app"), r.PathValue("stream"))
		if err != nil {
			return err
		}
		rt, err := s.publishRoute(path, r.URL.Query().Get("group"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, routeOut{Stream: path, NodeID: rt.Node.ID, Role: rt.Node.Role, Region: rt.Node.Region, RTMPURL: rt.RTMPURL, SRTURL: rt.SRTURL})
		return nil
	}))
	mux.HandleFunc("GET /api/v1/route/play/{app}/{stream}", s.public(false, func(w http.ResponseWriter, r *http.Request) error {
		path, err := streamPath(r.PathValue("app"), r.PathValue("stream"))
		if err != nil {
			return err
		}
		rt, err := s.playRoute(path, r.URL.Query().Get("group"), r.URL.Query().Get("region"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, routeOut{Stream: path, NodeID: rt.Node.ID, Role: rt.Node.Role, Region: rt.Node.Region, HLSURL: rt.HLSURL})
		return nil
	}))
}

func limitParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n < 1 || n > 1000 {
		return 100
	}
	return n
}

func notFoundErr(kind, name string) error {
	return &notFound{kind: kind, name: clip(name)}
}

type notFound struct{ kind, name string }

func (e *notFound) Error() string { return e.kind + " " + strconv.Quote(e.name) + ": not found" }
func (e *notFound) Unwrap() error { return store.ErrNotFound }

// ---- operations shared by both APIs ----

func (s *Server) createPolicy(r *http.Request, p store.ScalePolicy) (store.ScalePolicy, error) {
	if err := validatePolicy(p); err != nil {
		return p, err
	}
	p, err := s.Store.CreatePolicy(r.Context(), p)
	if err == nil {
		s.Log.Info("scale policy created", "policy", p.Name)
	}
	return p, err
}

func (s *Server) createLaunchConfig(r *http.Request, c store.LaunchConfig) (store.LaunchConfig, error) {
	if err := validateLaunchConfig(c); err != nil {
		return c, err
	}
	c, err := s.Store.CreateLaunchConfig(r.Context(), c)
	if err == nil {
		s.Log.Info("launch config created", "launchConfig", c.Name)
	}
	return c, err
}

func (s *Server) createGroup(r *http.Request, g store.NodeGroup) (store.NodeGroup, error) {
	if g.Name == "" {
		g.Name = newGroupName()
	}
	if err := validateGroup(g); err != nil {
		return g, err
	}
	g, err := s.Store.CreateGroup(r.Context(), g)
	if err == nil {
		s.Log.Info("node group created", "group", g.Name, "launchConfig", g.LaunchConfig, "scalePolicy", g.ScalePolicy)
	}
	return g, err
}

func (s *Server) setThreshold(r *http.Request, role nodemodel.Role, pct int) (store.AlarmThreshold, error) {
	if err := validateThreshold(role, pct); err != nil {
		return store.AlarmThreshold{}, err
	}
	if err := s.Store.SetAlarmThreshold(r.Context(), role, pct); err != nil {
		return store.AlarmThreshold{}, err
	}
	s.Log.Info("alarm threshold set", "role", role, "threshold", pct)
	return store.AlarmThreshold{Role: role, Threshold: pct}, nil
}
