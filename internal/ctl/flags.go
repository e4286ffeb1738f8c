package ctl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// The repeatable flags check only the shape of a value; the manager judges the rest (known roles,
// min ≤ max, …) so that the rules live in one place.

// policyTargets is --target ROLE:MIN:MAX[:STEP], once per role.
type policyTargets []apitypes.RoleLimits

func (p *policyTargets) String() string { return "" }

func (p *policyTargets) Set(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) != 3 && len(parts) != 4 {
		return errors.New("want ROLE:MIN:MAX[:STEP], e.g. edge:1:10:2")
	}
	if parts[0] == "" {
		return errors.New("ROLE is empty")
	}
	n := []int{0, 0, 1}
	for i, name := range []string{"MIN", "MAX", "STEP"}[:len(parts)-1] {
		x, err := wholeNumber(name, parts[i+1])
		if err != nil {
			return err
		}
		n[i] = x
	}
	*p = append(*p, apitypes.RoleLimits{Role: nodemodel.Role(parts[0]), MinLimit: n[0], MaxLimit: n[1], ScaleAdjustment: n[2]})
	return nil
}

// launchTargets is --target ROLE:INSTANCETYPE:CAPACITY, once per role.
type launchTargets []apitypes.LaunchTarget

func (l *launchTargets) String() string { return "" }

func (l *launchTargets) Set(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return errors.New("want ROLE:INSTANCETYPE:CAPACITY, e.g. edge:c5.large:500")
	}
	if parts[0] == "" || parts[1] == "" {
		return errors.New("ROLE and INSTANCETYPE must not be empty")
	}
	c, err := wholeNumber("CAPACITY", parts[2])
	if err != nil {
		return err
	}
	*l = append(*l, apitypes.LaunchTarget{Role: nodemodel.Role(parts[0]), InstanceType: parts[1], ConnectionCapacity: c})
	return nil
}

// ladderRungs is --rung NAME:HEIGHT:BITRATE[:MAXRATE], once per rendition.
type ladderRungs []apitypes.LadderRung

func (l *ladderRungs) String() string { return "" }

func (l *ladderRungs) Set(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) != 3 && len(parts) != 4 {
		return errors.New("want NAME:HEIGHT:BITRATE[:MAXRATE], e.g. 480p:480:1000000")
	}
	r := apitypes.LadderRung{Name: parts[0]}
	var err error
	if r.Height, err = wholeNumber("HEIGHT", parts[1]); err != nil {
		return err
	}
	if r.VideoBitrate, err = wholeNumber("BITRATE", parts[2]); err != nil {
		return err
	}
	if len(parts) == 4 {
		if r.MaxRate, err = wholeNumber("MAXRATE", parts[3]); err != nil {
			return err
		}
	}
	*l = append(*l, r)
	return nil
}

func wholeNumber(name, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q is not a whole number", name, s)
	}
	return n, nil
}

// keyValues is a repeatable k=v.
type keyValues []apitypes.KV

func (k *keyValues) String() string { return "" }

func (k *keyValues) Set(v string) error {
	key, value, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return errors.New("want KEY=VALUE")
	}
	*k = append(*k, apitypes.KV{Key: key, Value: value})
	return nil
}

// stringList is a repeatable string.
type stringList []string

func (s *stringList) String() string { return "" }

func (s *stringList) Set(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	*s = append(*s, v)
	return nil
}

// percent is 1–100, with or without a % sign.
type percent int

func (p *percent) String() string { return strconv.Itoa(int(*p)) }

func (p *percent) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
	if err != nil || n < 1 || n > 100 {
		return errors.New("want a percentage between 1 and 100")
	}
	*p = percent(n)
	return nil
}

// byteSize is a size in bytes: a number with an optional unit (B, K/KB/KiB, M/MB/MiB, all powers of 1024).
type byteSize int64

func (b *byteSize) String() string {
	switch {
	case *b > 0 && *b%(1<<20) == 0:
		return strconv.FormatInt(int64(*b>>20), 10) + "MiB"
	case *b > 0 && *b%(1<<10) == 0:
		return strconv.FormatInt(int64(*b>>10), 10) + "KiB"
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *byteSize) Set(v string) error {
	s := strings.TrimSpace(v)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	}
	mult := map[string]float64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20}[unit]
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || n <= 0 {
		return errors.New("want a size such as 1MiB, 512KiB or 65536")
	}
	*b = byteSize(n * mult)
	return nil
}
