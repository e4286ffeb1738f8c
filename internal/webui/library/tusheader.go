package library

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// maxSizeDigits bounds a tus length or offset: 18 decimal digits always fit an int64.
const maxSizeDigits = 18

// maxMetadataPairs bounds the pairs of an Upload-Metadata header.
const maxMetadataPairs = 32

// parseSize reads an Upload-Length or Upload-Offset value: a non-negative decimal integer, digits only
// (no sign, no spaces).
func parseSize(name, v string) (int64, error) {
	if v == "" {
		return 0, fmt.Errorf("%s is missing", name)
	}
	if len(v) > maxSizeDigits {
		return 0, fmt.Errorf("%s %q is too large", name, v)
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s must be a non-negative decimal integer, not %q", name, v)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// parseMetadata reads an Upload-Metadata header: comma-separated pairs of a key and, after one space, its
// value in base64 (a key alone has the empty value). Keys are printable ASCII without spaces or commas
// and appear once.
func parseMetadata(v string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return out, nil
	}
	pairs := strings.Split(v, ",")
	if len(pairs) > maxMetadataPairs {
		return nil, fmt.Errorf("Upload-Metadata has more than %d pairs", maxMetadataPairs)
	}
	for _, pair := range pairs {
		pair = strings.Trim(pair, " \t")
		key, value, hasValue := strings.Cut(pair, " ")
		if key == "" {
			return nil, fmt.Errorf("Upload-Metadata has an empty key")
		}
		for i := 0; i < len(key); i++ {
			if key[i] <= ' ' || key[i] > '~' {
				return nil, fmt.Errorf("Upload-Metadata key %q is not printable ASCII without spaces", key)
			}
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("Upload-Metadata has the key %q twice", key)
		}
		var decoded []byte
		if hasValue {
			var err error
			if decoded, err = base64.StdEncoding.Strict().DecodeString(value); err != nil {
				return nil, fmt.Errorf("Upload-Metadata value of %q is not base64", key)
			}
		}
		out[key] = string(decoded)
	}
	return out, nil
}
