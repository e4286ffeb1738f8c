package autoscaler

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/store"
)

// VersionProperty is the launch configuration property naming the software version its nodes must run.
// Without it, nodes must run the manager's own version.
const VersionProperty = apitypes.VersionProperty

// admissionStore is what admission reads.
type admissionStore interface {
	GetGroup(ctx context.Context, nameOrID string) (store.NodeGroup, error)
	GetLaunchConfig(ctx context.Context, name string) (store.LaunchConfig, error)
}

// Admission decides whether a node that registered may enter service: it must run the software version
// its launch configuration expects and answer its health check. Use Check as cluster.Registry.Admit.
type Admission struct {
	Store admissionStore
	// Version is expected when the launch configuration names none (the manager's own version).
	Version string
	// Client does the health checks (default: 2 s timeout).
	Client *http.Client
}

// ExpectedVersion returns the software version nodes of lc must run ("" accepts any).
func ExpectedVersion(lc store.LaunchConfig, managerVersion string) string {
	for _, p := range lc.Properties {
		if p.Key == VersionProperty {
			return p.Value
		}
	}
	return managerVersion
}

// Check returns nil when n may enter service, an error wrapping cluster.ErrRejected when it never may
// (wrong version), and any other error when it is not ready yet.
func (a *Admission) Check(ctx context.Context, n store.Node) error {
	if n.Group != "" {
		g, err := a.Store.GetGroup(ctx, n.Group)
		if err != nil {
			return fmt.Errorf("reading group %s: %w", n.Group, err)
		}
		lc, err := a.Store.GetLaunchConfig(ctx, g.LaunchConfig)
		if err != nil {
			return fmt.Errorf("reading launch configuration %s: %w", g.LaunchConfig, err)
		}
		if want := ExpectedVersion(lc, a.Version); want != "" && n.Version != want {
			return fmt.Errorf("%w: it runs version %q, launch configuration %s expects %q",
				cluster.ErrRejected, n.Version, lc.Name, want)
		}
	}
	if n.Addresses.HTTP == "" {
		return fmt.Errorf("node %s has no HTTP address to check", n.ID)
	}
	client := a.Client
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.Addresses.HTTPURL()+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("health check of %s: %w", n.ID, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health check of %s: %w", n.ID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check of %s: HTTP %d", n.ID, resp.StatusCode)
	}
	return nil
}
