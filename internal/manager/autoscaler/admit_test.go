package autoscaler_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

func TestAdmission(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.SQLite, filepath.Join(t.TempDir(), "n.db"))
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Migrate(ctx)
	require.NoError(t, err)
	_, err = st.CreatePolicy(ctx, store.ScalePolicy{Name: "p", Targets: []store.RoleLimits{{Role: "edge", MinLimit: 1, MaxLimit: 1}}})
	require.NoError(t, err)
	_, err = st.CreateLaunchConfig(ctx, store.LaunchConfig{Name: "pinned", Properties: []store.KV{{Key: autoscaler.VersionProperty, Value: "1.4.0"}}})
	require.NoError(t, err)
	_, err = st.CreateLaunchConfig(ctx, store.LaunchConfig{Name: "plain"})
	require.NoError(t, err)
	_, err = st.CreateGroup(ctx, store.NodeGroup{Name: "pinned", LaunchConfig: "pinned", ScalePolicy: "p"})
	require.NoError(t, err)
	_, err = st.CreateGroup(ctx, store.NodeGroup{Name: "plain", LaunchConfig: "plain", ScalePolicy: "p"})
	require.NoError(t, err)

	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer healthy.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	addr := func(s *httptest.Server) nodemodel.Addresses {
		return nodemodel.Addresses{HTTP: strings.TrimPrefix(s.URL, "http://")}
	}

	a := &autoscaler.Admission{Store: st, Version: "1.5.0"}
	for _, tc := range []struct {
		name     string
		node     store.Node
		rejected bool
		ok       bool
	}{
		{"pinned version matches", store.Node{ID: "a", Group: "pinned", Version: "1.4.0", Addresses: addr(healthy)}, false, true},
		{"pinned version differs", store.Node{ID: "b", Group: "pinned", Version: "1.5.0", Addresses: addr(healthy)}, true, false},
		{"manager's version by default", store.Node{ID: "c", Group: "plain", Version: "1.5.0", Addresses: addr(healthy)}, false, true},
		{"other version than the manager's", store.Node{ID: "d", Group: "plain", Version: "dev", Addresses: addr(healthy)}, true, false},
		{"no group: no version rule", store.Node{ID: "e", Version: "dev", Addresses: addr(healthy)}, false, true},
		{"failing health check: not yet", store.Node{ID: "f", Group: "plain", Version: "1.5.0", Addresses: addr(sick)}, false, false},
		{"unreachable: not yet", store.Node{ID: "g", Group: "plain", Version: "1.5.0", Addresses: nodemodel.Addresses{HTTP: "127.0.0.1:1"}}, false, false},
		{"no HTTP address: not yet", store.Node{ID: "h", Group: "plain", Version: "1.5.0"}, false, false},
		{"unknown group: not yet", store.Node{ID: "i", Group: "gone", Version: "1.5.0", Addresses: addr(healthy)}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Check(ctx, tc.node)
			require.Equal(t, tc.ok, err == nil, "%v", err)
			require.Equal(t, tc.rejected, err != nil && errors.Is(err, cluster.ErrRejected), "%v", err)
		})
	}
}
