// Package httprec records what an HTTP handler answered: its status and the bytes of its body, for access
// logs and metrics.
package httprec

import "net/http"

// Writer is an http.ResponseWriter that records the status and counts the body bytes written through it.
type Writer struct {
	http.ResponseWriter
	code  int
	bytes int64
}

// New wraps w.
func New(w http.ResponseWriter) *Writer { return &Writer{ResponseWriter: w} }

// WriteHeader records the first final status (informational 1xx answers are passed on, not recorded).
func (w *Writer) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *Writer) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Status is the status sent: 200 for a handler that wrote nothing, as net/http answers it.
func (w *Writer) Status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Bytes is the body bytes written, an answer cut short included.
func (w *Writer) Bytes() int64 { return w.bytes }

// Unwrap lets http.ResponseController reach the connection (deadlines, flushing).
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes through.
func (w *Writer) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
