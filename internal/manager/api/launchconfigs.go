package api

import (
	"context"
	"net/http"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/store"
)

// ---- launch configurations: the operations both APIs call ----

func (s *Server) createLaunchConfig(ctx context.Context, c store.LaunchConfig) (store.LaunchConfig, error) {
	if err := validateLaunchConfig(c); err != nil {
		return c, err
	}
	c, err := s.Store.CreateLaunchConfig(ctx, c)
	if err == nil {
		s.Log.Info("launch config created", "launchConfig", c.Name)
	}
	return c, err
}

func (s *Server) launchConfig(ctx context.Context, name string) (store.LaunchConfig, error) {
	return s.Store.GetLaunchConfig(ctx, name)
}

func (s *Server) launchConfigs(ctx context.Context) ([]store.LaunchConfig, error) {
	return s.Store.ListLaunchConfigs(ctx)
}

// updateLaunchConfig replaces every setting of the launch config name; c may leave its name out, not
// name another.
func (s *Server) updateLaunchConfig(ctx context.Context, name string, c store.LaunchConfig) (store.LaunchConfig, error) {
	if c.Name != "" && c.Name != name {
		return c, invalid("the body names launch config %q but the URL %q", clip(c.Name), clip(name))
	}
	c.Name = name
	if err := validateLaunchConfig(c); err != nil {
		return c, err
	}
	c, err := s.Store.UpdateLaunchConfig(ctx, c)
	if err == nil {
		s.Log.Info("launch config updated", "launchConfig", c.Name)
	}
	return c, err
}

// deleteLaunchConfig deletes a launch config no group uses and returns it as it was.
func (s *Server) deleteLaunchConfig(ctx context.Context, name string) (store.LaunchConfig, error) {
	c, err := s.Store.GetLaunchConfig(ctx, name)
	if err != nil {
		return c, err
	}
	if err := s.Store.DeleteLaunchConfig(ctx, c.Name); err != nil {
		return c, err
	}
	s.Log.Info("launch config deleted", "launchConfig", c.Name)
	return c, nil
}

// ---- native ----

func (n nativeAPI) listLaunchConfigs(w http.ResponseWriter, r *http.Request) error {
	cs, err := n.s.launchConfigs(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(cs, launchConfigToAPI))
	return nil
}

func (n nativeAPI) createLaunchConfig(w http.ResponseWriter, r *http.Request) error {
	var b apitypes.LaunchConfig
	if err := decode(r, &b, refuseUnknown); err != nil {
		return err
	}
	c, err := n.s.createLaunchConfig(r.Context(), launchConfigFromAPI(b))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, launchConfigToAPI(c))
	return nil
}

func (n nativeAPI) getLaunchConfig(w http.ResponseWriter, r *http.Request) error {
	c, err := n.s.launchConfig(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, launchConfigToAPI(c))
	return nil
}

func (n nativeAPI) updateLaunchConfig(w http.ResponseWriter, r *http.Request) error {
	var b apitypes.LaunchConfig
	if err := decode(r, &b, refuseUnknown); err != nil {
		return err
	}
	c, err := n.s.updateLaunchConfig(r.Context(), r.PathValue("name"), launchConfigFromAPI(b))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, launchConfigToAPI(c))
	return nil
}

func (n nativeAPI) deleteLaunchConfig(w http.ResponseWriter, r *http.Request) error {
	if _, err := n.s.deleteLaunchConfig(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- Red5 ----

// red5LaunchEnvelope is how Red5 wraps a launch configuration: {"launchconfig": {...}}.
type red5LaunchEnvelope[C any] struct {
	LaunchConfig C `json:"launchconfig"`
}

func (a red5API) createLaunchConfig(w http.ResponseWriter, r *http.Request) error {
	var env red5LaunchEnvelope[*red5LaunchConfig]
	if err := decode(r, &env, ignoreUnknown); err != nil {
		return err
	}
	if env.LaunchConfig == nil {
		return invalid(`the body must be {"launchconfig": {...}}`)
	}
	c, err := env.LaunchConfig.model()
	if err != nil {
		return err
	}
	if c, err = a.s.createLaunchConfig(r.Context(), c); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, red5LaunchEnvelope[red5LaunchConfigOut]{red5LaunchConfigOf(c)})
	return nil
}

func (a red5API) getLaunchConfig(w http.ResponseWriter, r *http.Request) error {
	c, err := a.s.launchConfig(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red5LaunchEnvelope[red5LaunchConfigOut]{red5LaunchConfigOf(c)})
	return nil
}

func (a red5API) listLaunchConfigs(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.s.launchConfigs(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(cs, red5LaunchConfigOf))
	return nil
}

func (a red5API) deleteLaunchConfig(w http.ResponseWriter, r *http.Request) error {
	c, err := a.s.deleteLaunchConfig(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red5LaunchEnvelope[red5LaunchConfigOut]{red5LaunchConfigOf(c)})
	return nil
}
