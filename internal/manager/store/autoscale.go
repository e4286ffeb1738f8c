package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

// ---- leases ----

// AcquireLease takes or renews the lease name for holder until now+ttl. It returns false, without error,
// when another holder has it and it has not expired. Several managers sharing one store use it so that only
// one acts on a node group at a time.
func (s *SQL) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := s.Now()
	got := false
	if err := checkFields(field{"lease", name, MaxLeaseName}, field{"holder", holder, MaxHolder}); err != nil {
		return false, fmt.Errorf("lease %q: %w", clip(name), err)
	}
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var cur string
		var exp int64
		err := tx.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE name = ?`+s.forUpdate(), name).Scan(&cur, &exp)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?,?,?)`, name, holder, ms(now.Add(ttl)))
			if isDuplicate(err) {
				return nil // another manager took it in the same instant
			}
			got = err == nil
			return err
		case err != nil:
			return err
		case cur != holder && fromMS(exp).After(now):
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE leases SET holder = ?, expires_at = ? WHERE name = ?`, holder, ms(now.Add(ttl)), name)
		got = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lease %q: %w", name, err)
	}
	return got, nil
}

// ReleaseLease gives up name if holder has it.
func (s *SQL) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.exec(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
	if err != nil {
		return fmt.Errorf("releasing lease %q: %w", name, err)
	}
	return nil
}

// ---- scaling events ----

// ScaleEvent is one autoscaler decision that did something (or was held back), with its reason.
type ScaleEvent struct {
	ID     int64          `json:"id"`
	Group  string         `json:"group"`
	Role   nodemodel.Role `json:"role"`
	Action string         `json:"action"` // scale-out, minimum, replace, drain, terminate, reject, launch-failed …
	Reason string         `json:"reason"`
	// Load and Predicted are percentages of the role's capacity.
	Load      float64   `json:"load"`
	Predicted float64   `json:"predicted"`
	Nodes     []string  `json:"nodes"` // the nodes launched, drained or terminated
	Manager   string    `json:"manager"`
	At        time.Time `json:"at"`
}

// AddScaleEvent stores e.
func (s *SQL) AddScaleEvent(ctx context.Context, e ScaleEvent) (ScaleEvent, error) {
	if e.At.IsZero() {
		e.At = s.Now()
	}
	e.At = e.At.UTC().Truncate(time.Millisecond)
	nodes := strings.Join(e.Nodes, ",")
	if err := checkFields(field{"group", e.Group, MaxName}, field{"role", string(e.Role), MaxRole},
		field{"action", e.Action, MaxAction}, field{"reason", e.Reason, MaxReason}, field{"nodes", nodes, MaxJSON},
		field{"manager", e.Manager, MaxHolder}); err != nil {
		return e, fmt.Errorf("scale event: %w", err)
	}
	res, err := s.exec(ctx, `INSERT INTO scale_events (group_name, role, action, reason, load_pct, predicted, nodes, manager, at)
		VALUES (?,?,?,?,?,?,?,?,?)`, e.Group, e.Role, e.Action, e.Reason, finite(e.Load), finite(e.Predicted),
		nodes, e.Manager, ms(e.At))
	if err != nil {
		return e, fmt.Errorf("storing scale event: %w", err)
	}
	e.ID, _ = res.LastInsertId()
	return e, nil
}

// finite keeps infinite loads (connections without any node to carry them) storable.
func finite(f float64) float64 {
	const ceiling = 1e9
	if f > ceiling {
		return ceiling
	}
	return f
}

// ScaleEvents returns the latest scaling events of group ("" for all), oldest first, at most limit.
func (s *SQL) ScaleEvents(ctx context.Context, group string, limit int) ([]ScaleEvent, error) {
	q := `SELECT id, group_name, role, action, reason, load_pct, predicted, nodes, manager, at FROM scale_events`
	var args []any
	if group != "" {
		q += ` WHERE group_name = ?`
		args = append(args, group)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	evs, err := list(ctx, s, q, func(r scanner) (ScaleEvent, error) {
		var e ScaleEvent
		var nodes string
		var at int64
		err := r.Scan(&e.ID, &e.Group, &e.Role, &e.Action, &e.Reason, &e.Load, &e.Predicted, &nodes, &e.Manager, &at)
		e.At = fromMS(at)
		e.Nodes = []string{}
		if nodes != "" {
			e.Nodes = strings.Split(nodes, ",")
		}
		return e, err
	}, args...)
	slices.Reverse(evs)
	return evs, err
}
