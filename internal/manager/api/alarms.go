package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// ---- alarm thresholds: the operations both APIs call ----

func (s *Server) setThreshold(ctx context.Context, role nodemodel.Role, pct int) (store.AlarmThreshold, error) {
	if err := validateThreshold(role, pct); err != nil {
		return store.AlarmThreshold{}, err
	}
	if err := s.Store.SetAlarmThreshold(ctx, role, pct); err != nil {
		return store.AlarmThreshold{}, err
	}
	s.Log.Info("alarm threshold set", "role", role, "threshold", pct)
	return store.AlarmThreshold{Role: role, Threshold: pct}, nil
}

func (s *Server) thresholds(ctx context.Context) ([]store.AlarmThreshold, error) {
	return s.Store.AlarmThresholds(ctx)
}

// ---- native ----

func (n nativeAPI) listAlarms(w http.ResponseWriter, r *http.Request) error {
	th, err := n.s.thresholds(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(th, thresholdToAPI))
	return nil
}

func (n nativeAPI) setAlarm(w http.ResponseWriter, r *http.Request) error {
	var b apitypes.SetThreshold
	if err := decode(r, &b, refuseUnknown); err != nil {
		return err
	}
	th, err := n.s.setThreshold(r.Context(), nodemodel.Role(r.PathValue("role")), b.Threshold)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, thresholdToAPI(th))
	return nil
}

// ---- Red5 ----

// red5Threshold is an alarm threshold as the Red5 API answers it.
type red5Threshold struct {
	Role      nodemodel.Role `json:"role"`
	Threshold int            `json:"threshold"`
}

func red5ThresholdOf(t store.AlarmThreshold) red5Threshold {
	return red5Threshold{Role: t.Role, Threshold: t.Threshold}
}

// setAlarm is POST …/alarm/scaleout/default?type=<role>&threshold=<percent>.
func (a red5API) setAlarm(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	raw := q.Get("threshold")
	pct, err := strconv.Atoi(raw)
	if err != nil {
		return invalid("threshold %q must be a whole number of percent between 1 and 100", clip(raw))
	}
	th, err := a.s.setThreshold(r.Context(), nodemodel.Role(q.Get("type")), pct)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, red5ThresholdOf(th))
	return nil
}

func (a red5API) listAlarms(w http.ResponseWriter, r *http.Request) error {
	th, err := a.s.thresholds(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(th, red5ThresholdOf))
	return nil
}
