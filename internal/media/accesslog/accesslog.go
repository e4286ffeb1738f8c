// Package accesslog writes a node's HTTP access log (Combined Log Format plus the request time) to a file
// and uploads it to object storage, so that it outlives the node: the autoscaler terminates nodes, and
// their logs must not go with them.
package accesslog

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/httprec"
	"github.com/nagare-video/nagare/internal/objstore"
)

// Log is an access log file. It is safe for concurrent use.
type Log struct {
	path string

	mu        sync.Mutex
	f         *os.File
	w         *bufio.Writer
	lastFlush time.Time
	closed    bool
}

// flushEvery bounds how long a line may sit in the buffer.
const flushEvery = time.Second

// Open appends to the file at path, creating it and its directory.
func Open(path string) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("access log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening access log: %w", err)
	}
	return &Log{path: path, f: f, w: bufio.NewWriterSize(f, 64<<10), lastFlush: time.Now()}, nil
}

// Path is the file's path.
func (l *Log) Path() string { return l.path }

// Middleware logs every request next serves, when its response is complete.
func (l *Log) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := httprec.New(w)
		next.ServeHTTP(rw, r)
		l.write(line(r, rw.Status(), rw.Bytes(), start, time.Since(start)))
	})
}

// line formats one request: host ident user [time] "method uri proto" status bytes "referer" "agent" seconds.
// Query strings are left out: they carry viewer session ids and tokens.
func line(r *http.Request, status int, n int64, at time.Time, took time.Duration) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	var b strings.Builder
	b.Grow(160)
	b.WriteString(host)
	b.WriteString(" - - [")
	b.WriteString(at.Format("02/Jan/2006:15:04:05 -0700"))
	b.WriteString("] \"")
	b.WriteString(r.Method)
	b.WriteByte(' ')
	b.WriteString(quote(r.URL.EscapedPath()))
	b.WriteByte(' ')
	b.WriteString(r.Proto)
	b.WriteString("\" ")
	b.WriteString(strconv.Itoa(status))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(n, 10))
	b.WriteString(" \"")
	b.WriteString(quote(r.Referer()))
	b.WriteString("\" \"")
	b.WriteString(quote(r.UserAgent()))
	b.WriteString("\" ")
	b.WriteString(strconv.FormatFloat(took.Seconds(), 'f', 4, 64))
	b.WriteByte('\n')
	return b.String()
}

// quote keeps a client-chosen value on one line and inside its quotes.
func quote(s string) string {
	if len(s) > 2048 {
		s = s[:2048]
	}
	if !strings.ContainsAny(s, "\"\\\r\n\t") && isPrintable(s) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func (l *Log) write(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	_, _ = l.w.WriteString(s)
	if now := time.Now(); now.Sub(l.lastFlush) >= flushEvery {
		_ = l.w.Flush()
		l.lastFlush = now
	}
}

// Flush writes buffered lines to the file.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	return l.w.Flush()
}

// Close flushes and closes the file; later requests are not logged.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	ferr := l.w.Flush()
	cerr := l.f.Close()
	if ferr != nil {
		return fmt.Errorf("flushing access log: %w", ferr)
	}
	return cerr
}

// putter is what Upload needs of object storage.
type putter interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) error
}

// Key is where a node's access log is uploaded: accesslogs/<group>/<node>/<time>.log.
func Key(group, nodeID string, at time.Time) string {
	if group == "" {
		group = "nogroup"
	}
	return fmt.Sprintf("accesslogs/%s/%s/%s.log", group, nodeID, at.UTC().Format("20060102T150405.000Z"))
}

// Upload copies the access log file at path to key in st.
func Upload(ctx context.Context, st putter, path, key string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening access log for upload: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	if err := st.Put(ctx, key, f, fi.Size(), objstore.PutOptions{ContentType: "text/plain; charset=utf-8"}); err != nil {
		return fmt.Errorf("uploading access log to %s: %w", key, err)
	}
	return nil
}
