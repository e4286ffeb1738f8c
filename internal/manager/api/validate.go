package api

import (
	"errors"
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

// FieldError is an invalid request that names the field it is about, as the JSON names it
// ("targets[0].minLimit"): the console shows the message at that field. It wraps ErrInvalid.
type FieldError struct {
	Field string
	msg   string
}

func (e *FieldError) Error() string { return ErrInvalid.Error() + ": " + e.msg }
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalidField(field, format string, args ...any) error {
	return &FieldError{Field: field, msg: fmt.Sprintf(format, args...)}
}

// fieldOf names the field an error is about, if it names one.
func fieldOf(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	var sfe *store.FieldError
	if errors.As(err, &sfe) {
		return sfe.Field
	}
	return ""
}

func checkName(kind, name string) error {
	if !validName(name) {
		return invalidField("name", "%s name %q must match [A-Za-z0-9_.-]{1,%d}", kind, clip(name), store.MaxName)
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
		return invalidField("targets", "scale policy %q has no targets: give minLimit, maxLimit and scaleAdjustment per role", p.Name)
	}
	seen := map[nodemodel.Role]bool{}
	for i, t := range p.Targets {
		f := func(name string) string { return fmt.Sprintf("targets[%d].%s", i, name) }
		switch {
		case !t.Role.Valid():
			return invalidField(f("role"), "scale policy %q: role %q is not origin, relay, edge or transcoder", p.Name, clip(t.Role))
		case seen[t.Role]:
			return invalidField(f("role"), "scale policy %q: role %s appears twice", p.Name, t.Role)
		case t.MinLimit < 0:
			return invalidField(f("minLimit"), "scale policy %q: %s minLimit %d is negative", p.Name, t.Role, t.MinLimit)
		case t.MaxLimit < 1:
			return invalidField(f("maxLimit"), "scale policy %q: %s maxLimit %d must be at least 1", p.Name, t.Role, t.MaxLimit)
		case t.MinLimit > t.MaxLimit:
			return invalidField(f("minLimit"), "scale policy %q: %s minLimit %d is greater than maxLimit %d", p.Name, t.Role, t.MinLimit, t.MaxLimit)
		case t.ScaleAdjustment < 1:
			return invalidField(f("scaleAdjustment"), "scale policy %q: %s scaleAdjustment %d must be at least 1", p.Name, t.Role, t.ScaleAdjustment)
		case t.MaxLimit > 10000:
			return invalidField(f("maxLimit"), "scale policy %q: %s maxLimit %d is more than 10000", p.Name, t.Role, t.MaxLimit)
		}
		seen[t.Role] = true
	}
	if p.WarmUp < 0 {
		return invalidField("warmUpMs", "scale policy %q: warm-up must not be negative", p.Name)
	}
	if p.CoolDown < 0 {
		return invalidField("coolDownMs", "scale policy %q: cool-down must not be negative", p.Name)
	}
	return nil
}

func validateLaunchConfig(c store.LaunchConfig) error {
	if err := checkName("launch config", c.Name); err != nil {
		return err
	}
	if c.Image == "" {
		return invalidField("image", "launch config %q has no image", c.Name)
	}
	if len(c.Targets) == 0 {
		return invalidField("targets", "launch config %q has no targets: give instanceType and connectionCapacity per role", c.Name)
	}
	seen := map[nodemodel.Role]bool{}
	for i, t := range c.Targets {
		f := func(name string) string { return fmt.Sprintf("targets[%d].%s", i, name) }
		switch {
		case !t.Role.Valid():
			return invalidField(f("role"), "launch config %q: role %q is not origin, relay, edge or transcoder", c.Name, clip(t.Role))
		case seen[t.Role]:
			return invalidField(f("role"), "launch config %q: role %s appears twice", c.Name, t.Role)
		case t.ConnectionCapacity < 1:
			return invalidField(f("connectionCapacity"), "launch config %q: %s connectionCapacity %d must be at least 1", c.Name, t.Role, t.ConnectionCapacity)
		}
		seen[t.Role] = true
	}
	for i, p := range c.Properties {
		if p.Key != autoscaler.MaxSurgeProperty {
			continue
		}
		if n, err := strconv.Atoi(p.Value); err != nil || n < 1 {
			return invalidField(fmt.Sprintf("properties[%d].value", i), "launch config %q: property %s is %q, not a whole number of nodes of at least 1",
				c.Name, autoscaler.MaxSurgeProperty, clip(p.Value))
		}
	}
	return nil
}

func validateGroup(g store.NodeGroup) error {
	if err := checkName("node group", g.Name); err != nil {
		return err
	}
	if g.LaunchConfig == "" {
		return invalidField("launchConfig", "node group %q needs a launchConfig and a scalePolicy", g.Name)
	}
	if g.ScalePolicy == "" {
		return invalidField("scalePolicy", "node group %q needs a launchConfig and a scalePolicy", g.Name)
	}
	for i, r := range g.Regions {
		if !validName(r) {
			return invalidField(fmt.Sprintf("regions[%d]", i), "node group %q: region %q must match [A-Za-z0-9_.-]{1,%d}", g.Name, clip(r), store.MaxRegion)
		}
	}
	return nil
}

func validateThreshold(role nodemodel.Role, pct int) error {
	if !role.Valid() {
		return invalidField("role", "role %q is not origin, relay, edge or transcoder", clip(role))
	}
	if pct < 1 || pct > 100 {
		return invalidField("threshold", "threshold %d must be between 1 and 100 (percent of capacity)", pct)
	}
	return nil
}
