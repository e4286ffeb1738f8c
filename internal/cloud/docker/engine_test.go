package docker

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// engine is a fake Docker Engine API: the endpoints the controller uses, containers in memory, and a record
// of the requests. It speaks API version 1.47, so the client has to negotiate down from its own.
type engine struct {
	srv *httptest.Server

	mu         sync.Mutex
	images     map[string]bool
	containers []*fakeContainer
	seq        int
	calls      []string // "POST /containers/create", with ids as they were sent
	versions   map[string]bool
	creates    []createCall
	queries    map[string]url.Values // the last query of each "METHOD /path"
	// fail, when it returns a status, answers a request with that error instead.
	fail func(method, path string) int
}

const engineVersion = "1.47"

type createCall struct {
	name string
	req  container.CreateRequest
}

type fakeContainer struct {
	id, name string
	cfg      container.Config
	network  string
	ip       netip.Addr
	state    container.ContainerState
	status   string
	created  int64
}

func newEngine(t *testing.T, images ...string) *engine {
	t.Helper()
	e := &engine{images: map[string]bool{}, versions: map[string]bool{}, queries: map[string]url.Values{}}
	for _, im := range images {
		e.images[im] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, _ *http.Request) { // HEAD too
		w.Header().Set("Api-Version", engineVersion)
		w.Header().Set("Ostype", "linux")
		_, _ = io.WriteString(w, "OK")
	})
	mux.HandleFunc("POST /{version}/containers/create", e.create)
	mux.HandleFunc("POST /{version}/containers/{id}/start", e.start)
	mux.HandleFunc("POST /{version}/containers/{id}/stop", e.stop)
	mux.HandleFunc("DELETE /{version}/containers/{id}", e.remove)
	mux.HandleFunc("GET /{version}/containers/json", e.list)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if r.URL.Path != "/_ping" {
			version, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
			e.versions[version] = true
			call := r.Method + " /" + rest
			e.calls = append(e.calls, call)
			e.queries[call] = r.URL.Query()
			if e.fail != nil {
				if status := e.fail(r.Method, "/"+rest); status != 0 {
					writeError(w, status, fmt.Sprintf("injected failure of %s", call))
					return
				}
			}
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *engine) host() string { return "tcp://" + e.srv.Listener.Addr().String() }

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(common.ErrorResponse{Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// find is by id or name, as the daemon does; the caller holds mu.
func (e *engine) find(ref string) *fakeContainer {
	for _, c := range e.containers {
		if c.id == ref || c.name == ref {
			return c
		}
	}
	return nil
}

// add puts a container into the engine as if someone had created it.
func (e *engine) add(c *fakeContainer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.containers = append(e.containers, c)
}

func (e *engine) create(w http.ResponseWriter, r *http.Request) {
	var req container.CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Config == nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad create request: %v", err))
		return
	}
	name := r.URL.Query().Get("name")
	e.creates = append(e.creates, createCall{name: name, req: req})
	if !e.images[req.Image] {
		writeError(w, http.StatusNotFound, "No such image: "+req.Image)
		return
	}
	if name != "" && e.find(name) != nil {
		writeError(w, http.StatusConflict, fmt.Sprintf("Conflict. The container name %q is already in use", "/"+name))
		return
	}
	e.seq++
	c := &fakeContainer{
		id: fmt.Sprintf("%064x", e.seq), name: name, cfg: *req.Config, network: "bridge",
		ip: netip.AddrFrom4([4]byte{172, 17, 0, byte(1 + e.seq)}), state: container.StateCreated,
		status: "Created", created: time.Now().Unix(),
	}
	if req.HostConfig != nil && req.HostConfig.NetworkMode != "" {
		c.network = string(req.HostConfig.NetworkMode)
	}
	e.containers = append(e.containers, c)
	writeJSON(w, http.StatusCreated, container.CreateResponse{ID: c.id, Warnings: []string{}})
}

func (e *engine) start(w http.ResponseWriter, r *http.Request) {
	c := e.find(r.PathValue("id"))
	if c == nil {
		writeError(w, http.StatusNotFound, "No such container: "+r.PathValue("id"))
		return
	}
	c.state, c.status = container.StateRunning, "Up Less than a second"
	w.WriteHeader(http.StatusNoContent)
}

func (e *engine) stop(w http.ResponseWriter, r *http.Request) {
	c := e.find(r.PathValue("id"))
	switch {
	case c == nil:
		writeError(w, http.StatusNotFound, "No such container: "+r.PathValue("id"))
	case c.state != container.StateRunning:
		w.WriteHeader(http.StatusNotModified)
	default:
		c.state, c.status = container.StateExited, "Exited (0) Less than a second ago"
		w.WriteHeader(http.StatusNoContent)
	}
}

func (e *engine) remove(w http.ResponseWriter, r *http.Request) {
	c := e.find(r.PathValue("id"))
	switch {
	case c == nil:
		writeError(w, http.StatusNotFound, "No such container: "+r.PathValue("id"))
	case c.state == container.StateRunning && r.URL.Query().Get("force") != "1":
		writeError(w, http.StatusConflict, "cannot remove a running container")
	default:
		for i, x := range e.containers {
			if x == c {
				e.containers = append(e.containers[:i], e.containers[i+1:]...)
				break
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (e *engine) list(w http.ResponseWriter, r *http.Request) {
	var filters map[string]map[string]bool
	if f := r.URL.Query().Get("filters"); f != "" {
		if err := json.Unmarshal([]byte(f), &filters); err != nil {
			writeError(w, http.StatusBadRequest, "bad filters: "+err.Error())
			return
		}
	}
	for term := range filters {
		if term != "label" {
			writeError(w, http.StatusBadRequest, "the fake engine filters by label only, not "+term)
			return
		}
	}
	all := r.URL.Query().Get("all") == "1"
	out := []container.Summary{}
	for _, c := range e.containers {
		if !all && c.state != container.StateRunning || !matchLabels(c.cfg.Labels, filters["label"]) {
			continue
		}
		s := container.Summary{
			ID: c.id, Names: []string{"/" + c.name}, Image: c.cfg.Image, Created: c.created,
			Labels: c.cfg.Labels, State: c.state, Status: c.status,
			NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{}},
		}
		if c.state == container.StateRunning {
			s.NetworkSettings.Networks[c.network] = &network.EndpointSettings{IPAddress: c.ip}
		}
		out = append(out, s)
	}
	writeJSON(w, http.StatusOK, out)
}

// matchLabels is the daemon's label filter: every "key" must be set, every "key=value" must match.
func matchLabels(labels map[string]string, want map[string]bool) bool {
	for f := range want {
		key, value, withValue := strings.Cut(f, "=")
		got, ok := labels[key]
		if !ok || withValue && got != value {
			return false
		}
	}
	return true
}

func (e *engine) recorded() (calls []string, creates []createCall) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.calls...), append([]createCall(nil), e.creates...)
}

func (e *engine) query(call string) url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.queries[call]
}

func (e *engine) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.containers)
}

func (e *engine) setFail(fn func(method, path string) int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fail = fn
}
