package manager_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

const (
	token  = "shared-admin-token-0123456789"
	secret = "shared-cluster-secret-0123456789"
)

// TestTwoManagersShareAStore runs two managers on one MariaDB store, as behind a load balancer: a node that
// registers and reports to the first is routed to by the second, and the second never finds it dead.
func TestTwoManagersShareAStore(t *testing.T) {
	dsn := testutil.MySQLDSN(t)
	start := func() string {
		base, _ := managertest.Start(t, func(c *config.Config) {
			c.Manager.StoreEngine, c.Manager.StoreDSN = "mysql", dsn
			c.Manager.AdminToken, c.Cluster.Secret, c.Manager.SharedStore = token, secret, true
			c.Manager.ReportInterval, c.Manager.NodeTimeout = time.Second, 3*time.Second
		})
		return base
	}
	first, second := start(), start()

	client := &nodeapi.Client{BaseURL: first, Secret: secret, HTTP: &http.Client{Timeout: 5 * time.Second}}
	ctx := context.Background()
	reg, err := client.Register(ctx, nodeapi.RegisterRequest{Role: "origin", Version: "v", Addresses: nodemodel.Addresses{HTTP: "10.9.8.7:8080"}})
	require.NoError(t, err)
	report := func() {
		_, err := client.Report(ctx, nodeapi.ReportRequest{ID: reg.ID, Stats: nodemodel.Load{Connections: 1, Publishers: 1},
			Streams: []nodemodel.StreamLoad{{Name: "live/cam", Protocol: "rtmp"}}})
		require.NoError(t, err)
	}
	report()

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	require.Eventually(t, func() bool {
		res, err := noFollow.Get(second + "/live/cam/index.m3u8")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusFound && res.Header.Get("Location") == "http://10.9.8.7:8080/live/cam/index.m3u8"
	}, 10*time.Second, 100*time.Millisecond, "the second manager routes viewers to a node that reports to the first")

	for range 6 { // 6 s, twice the node timeout, of reports to the first manager only
		time.Sleep(time.Second)
		report()
	}
	req, _ := http.NewRequest(http.MethodGet, second+"/api/v1/nodes/"+reg.ID, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var n struct {
		State nodemodel.State `json:"state"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&n))
	require.Equal(t, nodemodel.StateInService, n.State, "the second manager does not find it dead")
}
