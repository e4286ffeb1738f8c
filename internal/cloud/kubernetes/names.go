package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// maxLabel is the longest DNS-1123 label and label value. A pod name may be longer (a subdomain), but a
// pod's hostname is its name cut at 63 characters, so two long ids would share a hostname.
const maxLabel = validation.DNS1123LabelMaxLength

// podName is the pod of a node: "nagare-<node id>" as a DNS-1123 label. An id that had to be changed to
// fit (case, characters, length) gets a hash of the original appended, so that ids differing only in
// what was changed ("Edge_1" and "edge-1") still name different pods.
func podName(nodeID string) string {
	want := "nagare-" + nodeID
	return fit(want, strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, want))
}

// secretName is the Secret holding a node's cluster secret.
func secretName(pod string) string { return pod + "-secret" }

// labelValue makes s a valid label value (at most 63 of [A-Za-z0-9._-], alphanumeric at both ends), with
// the same hash suffix as podName when it had to be changed. The original goes into an annotation.
func labelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	return fit(s, strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, s))
}

// fit returns cleaned (want with its invalid characters replaced) when that is want itself and short
// enough, and otherwise cleaned cut short with a hash of want appended.
func fit(want, cleaned string) string {
	cleaned = trimNonAlnum(cleaned)
	if cleaned == want && len(cleaned) <= maxLabel {
		return cleaned
	}
	sum := sha256.Sum256([]byte(want))
	suffix := hex.EncodeToString(sum[:4])
	cleaned = trimNonAlnum(cleaned[:min(len(cleaned), maxLabel-len(suffix)-1)])
	if cleaned == "" {
		return suffix
	}
	return cleaned + "-" + suffix
}

func trimNonAlnum(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
}
