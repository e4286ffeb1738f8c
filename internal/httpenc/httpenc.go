// Package httpenc negotiates HTTP content codings: whether a client takes a gzip-compressed answer.
package httpenc

import (
	"net/http"
	"strconv"
	"strings"
)

// AcceptsGzip reports whether r's Accept-Encoding takes gzip (and does not refuse it with q=0, however
// the weight is written: RFC 9110 §12.5.3). It allocates nothing for the usual headers, since media
// servers ask it on every playlist request.
func AcceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			name, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			params = strings.TrimSpace(params)
			if params == "" {
				return true
			}
			return weight(params) > 0
		}
	}
	return false
}

// weight reads the q parameter of a coding's parameters ("q=0.5", "q = 0"); 1 when there is none or it
// cannot be read.
func weight(params string) float64 {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		w, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 1
		}
		return w
	}
	return 1
}
