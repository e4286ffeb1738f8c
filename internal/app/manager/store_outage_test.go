package manager_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

// startManager runs a manager on the given store until the test ends and returns its base URL.
func startManager(t *testing.T, engine, dsn string) string {
	t.Helper()
	base, _ := managertest.Start(t, func(c *config.Config) {
		c.Manager.StoreEngine, c.Manager.StoreDSN = engine, dsn
		c.Manager.AdminToken, c.Cluster.Secret = token, secret
	})
	return base
}

// call makes an admin API call and returns the status, the JSON body decoded, and how long it took. The
// client gives up after 20 s, so that a hanging manager fails the test rather than blocking it.
func call(t *testing.T, method, url string, body any) (int, map[string]any, time.Duration) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	require.NoError(t, err, "%s %s got no answer", method, url)
	defer res.Body.Close()
	took := time.Since(start)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"), "%s %s", method, url)
	var out map[string]any
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	if len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	}
	return res.StatusCode, out, took
}

func launchConfigBody(name string) map[string]any {
	return map[string]any{
		"name": name, "image": "nagare", "version": "1.0.0",
		"targets": []map[string]any{{"role": "origin", "instanceType": "small", "connectionCapacity": 100}},
	}
}

// TestFrozenStore: with the manager's MariaDB stopped by SIGSTOP, admin calls (a read and a write) and
// /healthz answer 503 with a JSON error saying the store does not answer, within a few seconds, instead of
// hanging for as long as the database is stopped; once it runs again, the same calls succeed.
func TestFrozenStore(t *testing.T) {
	db := testutil.StartMariaDB(t)
	base := startManager(t, store.MySQL, db.DSN(t, "nagare"))
	code, _, _ := call(t, http.MethodPost, base+"/api/v1/launchconfigs", launchConfigBody("before"))
	require.Equal(t, http.StatusCreated, code)
	code, health, _ := call(t, http.MethodGet, base+"/healthz", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", health["store"])

	db.Freeze(t)
	thawed := false
	t.Cleanup(func() {
		if !thawed {
			db.Thaw(t) // the manager stops (its cleanup runs first) on a database that answers
		}
	})
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/api/v1/launchconfigs", nil},
		{http.MethodGet, "/api/v1/launchconfigs/before", nil},
		{http.MethodPost, "/api/v1/launchconfigs", launchConfigBody("during")},
		{http.MethodGet, "/api/v1/scalepolicies", nil},
	} {
		code, body, took := call(t, c.method, base+c.path, c.body)
		require.Equal(t, http.StatusServiceUnavailable, code, "%s %s: %v", c.method, c.path, body)
		require.Contains(t, body["error"], "store does not answer", "%s %s", c.method, c.path)
		require.Less(t, took, 5*time.Second, "%s %s: a generous bound over the store's 2 s deadline", c.method, c.path)
	}
	code, health, took := call(t, http.MethodGet, base+"/healthz", nil)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "unavailable", health["status"])
	require.Contains(t, health["store"], "store does not answer")
	require.Less(t, took, 5*time.Second)

	db.Thaw(t)
	thawed = true
	require.Eventually(t, func() bool {
		code, _, _ := call(t, http.MethodGet, base+"/healthz", nil)
		return code == http.StatusOK
	}, 15*time.Second, 100*time.Millisecond, "the manager finds its store again")
	code, list, _ := call(t, http.MethodGet, base+"/api/v1/launchconfigs", nil)
	require.Equal(t, http.StatusOK, code, "%v", list)
	code, _, _ = call(t, http.MethodPost, base+"/api/v1/launchconfigs", launchConfigBody("after"))
	require.Equal(t, http.StatusCreated, code)
	code, _, _ = call(t, http.MethodGet, base+"/api/v1/launchconfigs/after", nil)
	require.Equal(t, http.StatusOK, code)
}

// TestStoredFieldLimits: on SQLite and on MySQL alike, values the API accepts and the hardening report
// found refused by MySQL with a 500 (a 65-byte version, a 300-byte image, a 100-byte node id and region)
// are kept, and values longer than the store keeps (a 70,000-byte description, a version over
// store.MaxVersion) are refused with 400 and an error naming the field.
func TestStoredFieldLimits(t *testing.T) {
	for _, engine := range []string{store.SQLite, store.MySQL} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			dsn := filepath.Join(t.TempDir(), "nagare.db")
			if engine == store.MySQL {
				if testing.Short() {
					t.Skip("needs MariaDB (skipped with -short)")
				}
				dsn = testutil.MySQLDSN(t)
			}
			base := startManager(t, engine, dsn)

			long := launchConfigBody("long")
			long["version"], long["image"] = strings.Repeat("v", 65), strings.Repeat("i", 300)
			code, body, _ := call(t, http.MethodPost, base+"/api/v1/launchconfigs", long)
			require.Equal(t, http.StatusCreated, code, "%v", body)
			code, body, _ = call(t, http.MethodGet, base+"/api/v1/launchconfigs/long", nil)
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, strings.Repeat("i", 300), body["image"])

			for _, c := range []struct{ field, value string }{
				{"description", strings.Repeat("d", 70000)},
				{"version", strings.Repeat("v", store.MaxVersion+1)},
				{"image", strings.Repeat("i", store.MaxImage+1)},
			} {
				b := launchConfigBody("too-long-" + c.field)
				b[c.field] = c.value
				code, body, _ := call(t, http.MethodPost, base+"/api/v1/launchconfigs", b)
				require.Equal(t, http.StatusBadRequest, code, "%s: %v", c.field, body)
				require.Contains(t, body["error"], c.field)
				require.Less(t, len(body["error"].(string)), 300, "the value is not echoed whole")
			}

			client := &nodeapi.Client{BaseURL: base, Secret: secret, HTTP: &http.Client{Timeout: 10 * time.Second}}
			id := strings.Repeat("n", 100)
			reg, err := client.Register(context.Background(), nodeapi.RegisterRequest{ID: id, Role: nodemodel.RoleOrigin,
				Version: "1.0.0", Region: strings.Repeat("r", 100), Addresses: nodemodel.Addresses{HTTP: "10.0.0.1:8080"}})
			require.NoError(t, err, "a 100-byte node id and region")
			require.Equal(t, id, reg.ID)
			code, body, _ = call(t, http.MethodGet, base+"/api/v1/nodes/"+id, nil)
			require.Equal(t, http.StatusOK, code, "%v", body)
			require.Equal(t, strings.Repeat("r", 100), body["region"])
		})
	}
}
