package api

import (
	"fmt"
	"strconv"

	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// validName reports whether s is a legal object name: [A-Za-z0-9_.-]{1,store.MaxName}.
func validName(s string) bool {
	if len(s) == 0 || len(s) > store.MaxName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func checkName(kind, name string) error {
	if !validName(name) {
		return invalid("%s name %q must match [A-Za-z0-9_.-]{1,%d}", kind, clip(name), store.MaxName)
	}
	return nil
}

func clip[S ~string](v S) string {
	s := string(v)
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func validatePolicy(p store.ScalePolicy) error {
	if err := checkName("scale policy", p.Name); err != nil {
		return err
	}
	if len(p.Targets) == 0 {
		return invalid("scale policy %q has no targets: give minLimit, maxLimit and scaleAdjustment per role", p.Name)
	}
	seen := map[nodemodel.Role]bool{}
	for _, t := range p.Targets {
		switch {
		case !t.Role.Valid():
			return invalid("scale policy %q: role %q is not origin, relay, edge or transcoder", p.Name, clip(t.Role))
		case seen[t.Role]:
			return invalid("scale policy %q: role %s appears twice", p.Name, t.Role)
		case t.MinLimit < 0:
			return invalid("scale policy %q: %s minLimit %d is negative", p.Name, t.Role, t.MinLimit)
		case t.MaxLimit < 1:
			return invalid("scale policy %q: %s maxLimit %d must be at least 1", p.Name, t.Role, t.MaxLimit)
		case t.MinLimit > t.MaxLimit:
			return invalid("scale policy %q: %s minLimit %d is greater than maxLimit %d", p.Name, t.Role, t.MinLimit, t.MaxLimit)
		case t.ScaleAdjustment < 1:
			return invalid("scale policy %q: %s scaleAdjustment %d must be at least 1", p.Name, t.Role, t.ScaleAdjustment)
		case t.MaxLimit > 10000:
			return invalid("scale policy %q: %s maxLimit %d is more than 10000", p.Name, t.Role, t.MaxLimit)
		}
		seen[t.Role] = true
	}
	if p.WarmUp < 0 || p.CoolDown < 0 {
		return invalid("scale policy %q: warm-up and cool-down must not be negative", p.Name)
	}
	return nil
}

func validateLaunchConfig(c store.LaunchConfig) error {
	if err := checkName("launch config", c.Name); err != nil {
		return err
	}
	if c.Image == "" {
		return invalid("launch config %q has no image", c.Name)
	}
	if len(c.Targets) == 0 {
		return invalid("launch config %q has no targets: give instanceType and connectionCapacity per role", c.Name)
	}
	seen := map[nodemodel.Role]bool{}
	for _, t := range c.Targets {
		switch {
		case !t.Role.Valid():
			return invalid("launch config %q: role %q is not origin, relay, edge or transcoder", c.Name, clip(t.Role))
		case seen[t.Role]:
			return invalid("launch config %q: role %s appears twice", c.Name, t.Role)
		case t.ConnectionCapacity < 1:
			return invalid("launch config %q: %s connectionCapacity %d must be at least 1", c.Name, t.Role, t.ConnectionCapacity)
		}
		seen[t.Role] = true
	}
	for _, p := range c.Properties {
		if p.Key != autoscaler.MaxSurgeProperty {
			continue
		}
		if n, err := strconv.Atoi(p.Value); err != nil || n < 1 {
			return invalid("launch config %q: property %s is %q, not a whole number of nodes of at least 1",
				c.Name, autoscaler.MaxSurgeProperty, clip(p.Value))
		}
	}
	return nil
}

func validateGroup(g store.NodeGroup) error {
	if err := checkName("node group", g.Name); err != nil {
		return err
	}
	if g.LaunchConfig == "" || g.ScalePolicy == "" {
		return invalid("node group %q needs a launchConfig and a scalePolicy", g.Name)
	}
	for _, r := range g.Regions {
		if !validName(r) {
			return invalid("node group %q: region %q must match [A-Za-z0-9_.-]{1,%d}", g.Name, clip(r), store.MaxRegion)
		}
	}
	return nil
}

func validateThreshold(role nodemodel.Role, pct int) error {
	if !role.Valid() {
		return invalid("role %q is not origin, relay, edge or transcoder", clip(role))
	}
	if pct < 1 || pct > 100 {
		return invalid("threshold %d must be between 1 and 100 (percent of capacity)", pct)
	}
	return nil
}
