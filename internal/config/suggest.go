package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// A mistyped setting stops nagare; these helpers name the settings it was probably meant to be.

// maxSuggestions bounds the names offered for one unknown setting.
const maxSuggestions = 3

// suggest returns the candidates closest to name: those within a few typing mistakes (a letter missed,
// added, changed, or two swapped), else those that share its longest run of leading words (sep-separated),
// at least its first. fold compares without regard to case. At most maxSuggestions, closest first.
func suggest(name string, candidates []string, sep string, fold bool) []string {
	norm := func(s string) string {
		if fold {
			return strings.ToLower(s)
		}
		return s
	}
	n := norm(name)
	// one mistake per four letters, at least one and at most three
	limit := min(max(len([]rune(n))/4, 1), 3)
	type scored struct {
		name string
		d    int
	}
	var near []scored
	for _, c := range candidates {
		if d := distance(n, norm(c)); d <= limit {
			near = append(near, scored{c, d})
		}
	}
	if len(near) == 0 {
		// no near spelling: the settings under the longest run of leading words the name shares (all of
		// them when the name is a section)
		words := strings.Split(n, sep)
		for k := len(words); k >= 1 && len(near) == 0; k-- {
			prefix := strings.Join(words[:k], sep) + sep
			for _, c := range candidates {
				if strings.HasPrefix(norm(c), prefix) {
					near = append(near, scored{c, 0})
				}
			}
		}
	}
	slices.SortStableFunc(near, func(a, b scored) int {
		if a.d != b.d {
			return a.d - b.d
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, 0, maxSuggestions)
	for _, s := range near {
		if len(out) == maxSuggestions {
			break
		}
		out = append(out, s.name)
	}
	return out
}

// distance is the optimal string alignment distance: insertions, deletions, substitutions and swaps of
// two neighbouring letters each count one.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// three rows of the dynamic programming table: i-2, i-1, i
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// orList joins names as "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// unknownEnvError says that name is not a setting and which settings (env name → key path) it may
// have meant.
func unknownEnvError(name string, known map[string]string) error {
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	near := suggest(strings.TrimPrefix(name, EnvPrefix), trimAll(names, EnvPrefix), "_", false)
	if len(near) == 0 {
		return fmt.Errorf("%s: unknown setting", name)
	}
	for i, n := range near {
		near[i] = fmt.Sprintf("%s%s (%s)", EnvPrefix, n, known[EnvPrefix+n])
	}
	return fmt.Errorf("%s: unknown setting; did you mean %s?", name, orList(near))
}

func trimAll(names []string, prefix string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimPrefix(n, prefix)
	}
	return out
}

// yamlUnknownField is how yaml.v3 reports a key that its struct does not have.
var yamlUnknownField = regexp.MustCompile(`^line \d+: field (.+) not found in type (\S+)$`)

// withYAMLSuggestions adds to each unknown-key error of yaml.v3 the keys of that section it may have
// meant, e.g. "line 2: field segmentDurationn not found in type config.HLS; did you mean
// segmentDuration?".
func withYAMLSuggestions(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	fields := yamlFields(reflect.TypeFor[Config]())
	changed := false
	msgs := slices.Clone(te.Errors)
	for i, m := range msgs {
		sub := yamlUnknownField.FindStringSubmatch(m)
		if sub == nil {
			continue
		}
		if near := suggest(sub[1], fields[sub[2]], ".", true); len(near) > 0 {
			msgs[i] = m + "; did you mean " + orList(near) + "?"
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &yaml.TypeError{Errors: msgs}
}

// yamlFields maps each struct type of the configuration (named as yaml.v3 names it, e.g. config.HLS) to
// its YAML keys.
func yamlFields(t reflect.Type) map[string][]string {
	out := map[string][]string{}
	var visit func(t reflect.Type)
	visit = func(t reflect.Type) {
		if _, seen := out[t.String()]; seen {
			return
		}
		var keys []string
		var sections []reflect.Type
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			keys = append(keys, tag)
			if f.Type.Kind() == reflect.Struct {
				sections = append(sections, f.Type)
			}
		}
		out[t.String()] = keys
		for _, st := range sections {
			visit(st)
		}
	}
	visit(t)
	return out
}
