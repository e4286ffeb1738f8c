package nodemodel

import "testing"

func TestStreamMatches(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "live/a", true},
		{"live/*", "live/a", true},
		{"live/a", "live/a", true},
		{"live/a", "live/ab", false},
		{"live/*", "lives/a", false},
		{"live", "live/a", false}, // not a pattern: the configuration refuses it
		{"other/*", "live/a", false},
	}
	for _, tt := range tests {
		if got := StreamMatches(tt.pattern, tt.name); got != tt.want {
			t.Errorf("StreamMatches(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}
