package manager

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// healthPingTimeout bounds the store check of /healthz: a load balancer's probe wants a prompt answer.
const healthPingTimeout = time.Second

// health is the body of /healthz.
type health struct {
	Status string `json:"status"` // "ok" or "unavailable"
	Store  string `json:"store"`  // "ok", or why the store does not answer
}

// healthz answers 200 when the manager can reach its store and 503, with the reason, when the store does
// not answer a ping within healthPingTimeout: a manager without its store cannot serve the admin API.
func (m *Manager) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthPingTimeout)
	defer cancel()
	code, body := http.StatusOK, health{Status: "ok", Store: "ok"}
	if err := m.store.Ping(ctx); err != nil {
		m.log.Warn("health check: the store does not answer", "cause", err)
		code, body = http.StatusServiceUnavailable, health{Status: "unavailable", Store: err.Error()}
		w.Header().Set("Retry-After", "2")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
