package api

import (
	"context"
	"net/http"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/store"
)

// ---- scale policies: the operations both APIs call ----

func (s *Server) createPolicy(ctx context.Context, p store.ScalePolicy) (store.ScalePolicy, error) {
	if err := validatePolicy(p); err != nil {
		return p, err
	}
	p, err := s.Store.CreatePolicy(ctx, p)
	if err == nil {
		s.Log.Info("scale policy created", "policy", p.Name)
	}
	return p, err
}

func (s *Server) policy(ctx context.Context, name string) (store.ScalePolicy, error) {
	return s.Store.GetPolicy(ctx, name)
}

func (s *Server) policies(ctx context.Context) ([]store.ScalePolicy, error) {
	return s.Store.ListPolicies(ctx)
}

// updatePolicy replaces every setting of the policy name; p may leave its name out, not name another.
func (s *Server) updatePolicy(ctx context.Context, name string, p store.ScalePolicy) (store.ScalePolicy, error) {
	if p.Name != "" && p.Name != name {
		return p, invalid("the body names policy %q but the URL %q", clip(p.Name), clip(name))
	}
	p.Name = name
	if err := validatePolicy(p); err != nil {
		return p, err
	}
	p, err := s.Store.UpdatePolicy(ctx, p)
	if err == nil {
		s.Log.Info("scale policy updated", "policy", p.Name)
	}
	return p, err
}

// deletePolicy deletes a policy no group uses and returns it as it was.
func (s *Server) deletePolicy(ctx context.Context, name string) (store.ScalePolicy, error) {
	p, err := s.Store.GetPolicy(ctx, name)
	if err != nil {
		return p, err
	}
	if err := s.Store.DeletePolicy(ctx, p.Name); err != nil {
		return p, err
	}
	s.Log.Info("scale policy deleted", "policy", p.Name)
	return p, nil
}

// ---- native ----

func (n nativeAPI) listPolicies(w http.ResponseWriter, r *http.Request) error {
	ps, err := n.s.policies(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(ps, policyToAPI))
	return nil
}

func (n nativeAPI) createPolicy(w http.ResponseWriter, r *http.Request) error {
	var b apitypes.ScalePolicy
	if err := decode(r, &b, refuseUnknown); err != nil {
		return err
	}
	p, err := n.s.createPolicy(r.Context(), policyFromAPI(b))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, policyToAPI(p))
	return nil
}

func (n nativeAPI) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := n.s.policy(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, policyToAPI(p))
	return nil
}

func (n nativeAPI) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	var b apitypes.ScalePolicy
	if err := decode(r, &b, refuseUnknown); err != nil {
		return err
	}
	p, err := n.s.updatePolicy(r.Context(), r.PathValue("name"), policyFromAPI(b))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, policyToAPI(p))
	return nil
}

func (n nativeAPI) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	if _, err := n.s.deletePolicy(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- Red5 ----

// red5PolicyEnvelope is how Red5 wraps a policy: {"policy": {...}}.
type red5PolicyEnvelope[P any] struct {
	Policy P `json:"policy"`
}

func (a red5API) createPolicy(w http.ResponseWriter, r *http.Request) error {
	var env red5PolicyEnvelope[*red5Policy]
	if err := decode(r, &env, ignoreUnknown); err != nil {
		return err
	}
	if env.Policy == nil {
		return invalid(`the body must be {"policy": {...}}`)
	}
	p, err := env.Policy.model()
	if err != nil {
		return err
	}
	if p, err = a.s.createPolicy(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, red5PolicyEnvelope[red5PolicyOut]{red5PolicyOf(p)})
	return nil
}

func (a red5API) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := a.s.policy(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red5PolicyEnvelope[red5PolicyOut]{red5PolicyOf(p)})
	return nil
}

func (a red5API) listPolicies(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.s.policies(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(ps, red5PolicyOf))
	return nil
}

func (a red5API) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := a.s.deletePolicy(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red5PolicyEnvelope[red5PolicyOut]{red5PolicyOf(p)})
	return nil
}
