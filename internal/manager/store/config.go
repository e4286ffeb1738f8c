package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

// ---- scale policies ----

const policyCols = `name, description, type, version, targets, warmup_ms, cooldown_ms, created_at, updated_at`

func scanPolicy(r scanner) (ScalePolicy, error) {
	var p ScalePolicy
	var targets string
	var warm, cool, created, updated int64
	if err := r.Scan(&p.Name, &p.Description, &p.Type, &p.Version, &targets, &warm, &cool, &created, &updated); err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(targets), &p.Targets); err != nil {
		return p, fmt.Errorf("policy %q targets: %w", p.Name, err)
	}
	p.WarmUp, p.CoolDown = time.Duration(warm)*time.Millisecond, time.Duration(cool)*time.Millisecond
	p.CreatedAt, p.UpdatedAt = fromMS(created), fromMS(updated)
	return p, nil
}

// CreatePolicy stores a new scale policy.
func (s *SQL) CreatePolicy(ctx context.Context, p ScalePolicy) (ScalePolicy, error) {
	now := s.Now().UTC().Truncate(time.Millisecond)
	p.CreatedAt, p.UpdatedAt = now, now
	targets := mustJSON(p.Targets)
	if err := checkPolicy(p, targets); err != nil {
		return p, fmt.Errorf("scale policy %q: %w", clip(p.Name), err)
	}
	_, err := s.exec(ctx, `INSERT INTO scale_policies (`+policyCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
		p.Name, p.Description, p.Type, p.Version, targets, p.WarmUp.Milliseconds(), p.CoolDown.Milliseconds(), ms(now), ms(now))
	if isDuplicate(err) {
		return p, fmt.Errorf("scale policy %q: %w", p.Name, ErrExists)
	}
	if err != nil {
		return p, fmt.Errorf("creating scale policy %q: %w", p.Name, err)
	}
	return p, nil
}

// GetPolicy returns the named policy.
func (s *SQL) GetPolicy(ctx context.Context, name string) (ScalePolicy, error) {
	p, err := one(ctx, s, `SELECT `+policyCols+` FROM scale_policies WHERE name = ?`, scanPolicy, name)
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("scale policy", name)
	}
	return p, err
}

// ListPolicies returns every policy ordered by name.
func (s *SQL) ListPolicies(ctx context.Context) ([]ScalePolicy, error) {
	return list(ctx, s, `SELECT `+policyCols+` FROM scale_policies ORDER BY name`, scanPolicy)
}

// UpdatePolicy replaces a policy's settings.
func (s *SQL) UpdatePolicy(ctx context.Context, p ScalePolicy) (ScalePolicy, error) {
	now := s.Now().UTC().Truncate(time.Millisecond)
	targets := mustJSON(p.Targets)
	if err := checkPolicy(p, targets); err != nil {
		return p, fmt.Errorf("scale policy %q: %w", clip(p.Name), err)
	}
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		old, err := scanPolicy(tx.QueryRowContext(ctx, `SELECT `+policyCols+` FROM scale_policies WHERE name = ?`+s.forUpdate(), p.Name))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("scale policy", p.Name)
		}
		if err != nil {
			return err
		}
		p.CreatedAt, p.UpdatedAt = old.CreatedAt, now
		_, err = tx.ExecContext(ctx, `UPDATE scale_policies SET description=?, type=?, version=?, targets=?, warmup_ms=?, cooldown_ms=?, updated_at=? WHERE name=?`,
			p.Description, p.Type, p.Version, targets, p.WarmUp.Milliseconds(), p.CoolDown.Milliseconds(), ms(now), p.Name)
		return err
	})
	return p, err
}

// DeletePolicy removes a policy no group uses.
func (s *SQL) DeletePolicy(ctx context.Context, name string) error {
	return s.deleteReferenced(ctx, "scale policy", "scale_policies", "scale_policy", name)
}

// ---- launch configurations ----

const configCols = `name, description, image, version, targets, properties, metadata, created_at, updated_at`

func scanConfig(r scanner) (LaunchConfig, error) {
	var c LaunchConfig
	var targets, props, meta string
	var created, updated int64
	if err := r.Scan(&c.Name, &c.Description, &c.Image, &c.Version, &targets, &props, &meta, &created, &updated); err != nil {
		return c, err
	}
	for _, f := range []struct {
		s   string
		dst any
	}{{targets, &c.Targets}, {props, &c.Properties}, {meta, &c.Metadata}} {
		if err := json.Unmarshal([]byte(f.s), f.dst); err != nil {
			return c, fmt.Errorf("launch config %q: %w", c.Name, err)
		}
	}
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	return c, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// CreateLaunchConfig stores a new launch configuration.
func (s *SQL) CreateLaunchConfig(ctx context.Context, c LaunchConfig) (LaunchConfig, error) {
	now := s.Now().UTC().Truncate(time.Millisecond)
	c.CreatedAt, c.UpdatedAt = now, now
	c.Properties, c.Metadata = nonNil(c.Properties), nonNil(c.Metadata)
	targets, props, meta := mustJSON(c.Targets), mustJSON(c.Properties), mustJSON(c.Metadata)
	if err := checkConfig(c, targets, props, meta); err != nil {
		return c, fmt.Errorf("launch config %q: %w", clip(c.Name), err)
	}
	_, err := s.exec(ctx, `INSERT INTO launch_configs (`+configCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
		c.Name, c.Description, c.Image, c.Version, targets, props, meta, ms(now), ms(now))
	if isDuplicate(err) {
		return c, fmt.Errorf("launch config %q: %w", c.Name, ErrExists)
	}
	if err != nil {
		return c, fmt.Errorf("creating launch config %q: %w", c.Name, err)
	}
	return c, nil
}

// GetLaunchConfig returns the named launch configuration.
func (s *SQL) GetLaunchConfig(ctx context.Context, name string) (LaunchConfig, error) {
	c, err := one(ctx, s, `SELECT `+configCols+` FROM launch_configs WHERE name = ?`, scanConfig, name)
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("launch config", name)
	}
	return c, err
}

// ListLaunchConfigs returns every launch configuration ordered by name.
func (s *SQL) ListLaunchConfigs(ctx context.Context) ([]LaunchConfig, error) {
	return list(ctx, s, `SELECT `+configCols+` FROM launch_configs ORDER BY name`, scanConfig)
}

// UpdateLaunchConfig replaces a launch configuration's settings.
func (s *SQL) UpdateLaunchConfig(ctx context.Context, c LaunchConfig) (LaunchConfig, error) {
	now := s.Now().UTC().Truncate(time.Millisecond)
	c.Properties, c.Metadata = nonNil(c.Properties), nonNil(c.Metadata)
	targets, props, meta := mustJSON(c.Targets), mustJSON(c.Properties), mustJSON(c.Metadata)
	if err := checkConfig(c, targets, props, meta); err != nil {
		return c, fmt.Errorf("launch config %q: %w", clip(c.Name), err)
	}
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		old, err := scanConfig(tx.QueryRowContext(ctx, `SELECT `+configCols+` FROM launch_configs WHERE name = ?`+s.forUpdate(), c.Name))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("launch config", c.Name)
		}
		if err != nil {
			return err
		}
		c.CreatedAt, c.UpdatedAt = old.CreatedAt, now
		_, err = tx.ExecContext(ctx, `UPDATE launch_configs SET description=?, image=?, version=?, targets=?, properties=?, metadata=?, updated_at=? WHERE name=?`,
			c.Description, c.Image, c.Version, targets, props, meta, ms(now), c.Name)
		return err
	})
	return c, err
}

// DeleteLaunchConfig removes a launch configuration no group uses.
func (s *SQL) DeleteLaunchConfig(ctx context.Context, name string) error {
	return s.deleteReferenced(ctx, "launch config", "launch_configs", "launch_config", name)
}

func (s *SQL) deleteReferenced(ctx context.Context, kind, table, groupCol, name string) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var users int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM node_groups WHERE `+groupCol+` = ?`, name).Scan(&users); err != nil {
			return err
		}
		if users > 0 {
			return fmt.Errorf("%s %q is used by %d node group(s): %w", kind, name, users, ErrInUse)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE name = ?`, name)
		if isForeignKey(err) {
			return fmt.Errorf("%s %q: %w", kind, name, ErrInUse)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound(kind, name)
		}
		return nil
	})
}

// ---- node groups ----

const groupCols = `id, name, regions, launch_config, scale_policy, created_at, deleting`

func scanGroup(r scanner) (NodeGroup, error) {
	var g NodeGroup
	var regions string
	var created, deleting int64
	if err := r.Scan(&g.ID, &g.Name, &regions, &g.LaunchConfig, &g.ScalePolicy, &created, &deleting); err != nil {
		return g, err
	}
	if err := json.Unmarshal([]byte(regions), &g.Regions); err != nil {
		return g, fmt.Errorf("group %q regions: %w", g.Name, err)
	}
	g.CreatedAt = fromMS(created)
	g.Deleting = deleting != 0
	return g, nil
}

// MarkGroupDeleting records that the group's deletion was asked for: the autoscaler (of whichever manager
// holds its lease) terminates its nodes and deletes it with the last of them.
func (s *SQL) MarkGroupDeleting(ctx context.Context, name string) error {
	if _, err := s.exec(ctx, `UPDATE node_groups SET deleting = 1 WHERE name = ?`, name); err != nil {
		return fmt.Errorf("marking node group %q for deletion: %w", name, err)
	}
	// MySQL counts only changed rows: ask whether the group exists rather than trust the count
	_, err := s.GetGroup(ctx, name)
	return err
}

// CreateGroup stores a new node group; its launch configuration and scale policy must exist.
func (s *SQL) CreateGroup(ctx context.Context, g NodeGroup) (NodeGroup, error) {
	g.CreatedAt = s.Now().UTC().Truncate(time.Millisecond)
	g.Regions = nonNil(g.Regions)
	regions := mustJSON(g.Regions)
	if err := checkGroup(g, regions); err != nil {
		return g, fmt.Errorf("node group %q: %w", clip(g.Name), err)
	}
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, ref := range []struct{ kind, table, name string }{
			{"launch config", "launch_configs", g.LaunchConfig}, {"scale policy", "scale_policies", g.ScalePolicy},
		} {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+ref.table+` WHERE name = ?`, ref.name).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("node group %q: %s %q: %w", g.Name, ref.kind, ref.name, ErrReference)
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO node_groups (name, regions, launch_config, scale_policy, created_at) VALUES (?,?,?,?,?)`,
			g.Name, regions, g.LaunchConfig, g.ScalePolicy, ms(g.CreatedAt))
		switch {
		case isDuplicate(err):
			return fmt.Errorf("node group %q: %w", g.Name, ErrExists)
		case isForeignKey(err):
			return fmt.Errorf("node group %q: %w", g.Name, ErrReference)
		case err != nil:
			return err
		}
		g.ID, err = res.LastInsertId()
		return err
	})
	return g, err
}

// GetGroup returns a group by name, or by numeric id.
func (s *SQL) GetGroup(ctx context.Context, nameOrID string) (NodeGroup, error) {
	q, arg := `SELECT `+groupCols+` FROM node_groups WHERE name = ?`, any(nameOrID)
	if id, err := strconv.ParseInt(nameOrID, 10, 64); err == nil {
		q, arg = `SELECT `+groupCols+` FROM node_groups WHERE id = ?`, id
	}
	g, err := one(ctx, s, q, scanGroup, arg)
	if errors.Is(err, sql.ErrNoRows) {
		return g, notFound("node group", nameOrID)
	}
	return g, err
}

// ListGroups returns every group ordered by id.
func (s *SQL) ListGroups(ctx context.Context) ([]NodeGroup, error) {
	return list(ctx, s, `SELECT `+groupCols+` FROM node_groups ORDER BY id`, scanGroup)
}

// DeleteGroup removes a group that has no live node left (terminate them first).
func (s *SQL) DeleteGroup(ctx context.Context, name string) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM nodes WHERE group_name = ? AND state <> ?`, name, nodemodel.StateTerminated).Scan(&live); err != nil {
			return err
		}
		if live > 0 {
			return fmt.Errorf("node group %q still has %d node(s): %w", name, live, ErrInUse)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM node_groups WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("node group", name)
		}
		// its chart goes with it (a group created again under the name starts a new one)
		_, err = tx.ExecContext(ctx, `DELETE FROM trace_samples WHERE group_name = ?`, name)
		return err
	})
}

// ---- alarm thresholds ----

// SetAlarmThreshold sets the scale-out threshold (percent of capacity) of a role.
func (s *SQL) SetAlarmThreshold(ctx context.Context, role nodemodel.Role, pct int) error {
	if err := checkFields(field{"role", string(role), MaxRole}); err != nil {
		return fmt.Errorf("alarm threshold: %w", err)
	}
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM alarm_thresholds WHERE role = ?`, role); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO alarm_thresholds (role, threshold) VALUES (?, ?)`, role, pct)
		return err
	})
}

// AlarmThresholds returns the threshold of every role, the default where none was set.
func (s *SQL) AlarmThresholds(ctx context.Context) ([]AlarmThreshold, error) {
	set, err := list(ctx, s, `SELECT role, threshold FROM alarm_thresholds`, func(r scanner) (AlarmThreshold, error) {
		var a AlarmThreshold
		return a, r.Scan(&a.Role, &a.Threshold)
	})
	if err != nil {
		return nil, err
	}
	out := make([]AlarmThreshold, 0, len(nodemodel.Roles))
	for _, role := range nodemodel.Roles {
		a := AlarmThreshold{Role: role, Threshold: DefaultAlarmThreshold}
		for _, x := range set {
			if x.Role == role {
				a.Threshold = x.Threshold
			}
		}
		out = append(out, a)
	}
	return out, nil
}
