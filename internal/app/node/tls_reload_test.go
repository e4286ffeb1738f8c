package node_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/tlstest"
	"github.com/nagare-video/nagare/internal/tlsconf"
)

// TestCertificateReloadLiveViewer: a node serves LL-HLS over TLS from certificate files; while a viewer
// plays a live stream over one HTTP/2 connection (blocking playlist reloads, then each new segment), the
// files are replaced by another certificate. New handshakes get the new certificate; the viewer's
// connection is never dropped: it keeps getting every segment, in order, with no error and no reconnect.
func TestCertificateReloadLiveViewer(t *testing.T) {
	testutil.RequireFFmpeg(t)
	t.Parallel()
	ca := tlstest.NewCA(t)
	first, firstKey := ca.Issue(t, "nagare-before", time.Time{}, time.Time{})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	installFile(t, first, certFile)
	installFile(t, firstKey, keyFile)
	n, logs := testutil.StartNode(t, func(c *config.Config) {
		c.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile, CAFile: ca.File}
	})
	testutil.Publish(t, rtmpURL(n, "live/reload"), "flv")
	playlist := "https://" + n.HTTPAddr() + "/live/reload/video1_stream.m3u8"

	clientTLS, err := tlsconf.ClientConfig(ca.File)
	require.NoError(t, err)
	// the certificate a new connection gets
	handshake := func() string {
		conn, err := tls.Dial("tcp", n.HTTPAddr(), clientTLS)
		require.NoError(t, err)
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	require.Equal(t, "nagare-before", handshake())
	other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: clientTLS.Clone()}}
	t.Cleanup(other.CloseIdleConnections)
	require.Eventually(t, func() bool {
		resp, err := other.Get(playlist)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "the stream never went live")

	v := &llhlsViewer{dials: &atomic.Int32{}}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	v.client = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   clientTLS.Clone(),
		ForceAttemptHTTP2: true,
		MaxConnsPerHost:   1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			v.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.play(ctx, playlist) }()
	t.Cleanup(func() { cancel(); <-done; v.client.CloseIdleConnections() })

	require.Eventually(t, func() bool { return v.count() >= 2 || v.failure() != nil }, 30*time.Second, 100*time.Millisecond)
	require.NoError(t, v.failure())

	// the operator's certificate tool replaces the files
	next, nextKey := ca.Issue(t, "nagare-after", time.Time{}, time.Time{})
	installFile(t, next, certFile)
	installFile(t, nextKey, keyFile)
	require.Eventually(t, func() bool { return handshake() == "nagare-after" }, 10*time.Second, 100*time.Millisecond,
		"new connections never got the new certificate")
	swapped := v.count()
	logs.WaitFor(t, "certificate reloaded", 5*time.Second)

	// the viewer goes on: three more segments after the new certificate is served
	require.Eventually(t, func() bool { return v.count() >= swapped+3 || v.failure() != nil }, 30*time.Second, 100*time.Millisecond)
	cancel()
	<-done
	require.NoError(t, v.failure(), "the viewer's playback broke")
	require.EqualValues(t, 1, v.dials.Load(), "the viewer connected again")
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, s := range v.got {
		require.Equal(t, "nagare-before", s.cert, "segment %d came over another connection", s.msn)
		require.Equal(t, "HTTP/2.0", s.proto)
		require.Positive(t, s.size)
		if i > 0 {
			require.Equal(t, v.got[i-1].msn+1, s.msn, "a segment was skipped")
		}
	}

	// a new viewer plays with the new certificate
	other.CloseIdleConnections()
	resp, err := other.Get(playlist)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "nagare-after", resp.TLS.PeerCertificates[0].Subject.CommonName)
}

// llhlsViewer plays a live LL-HLS rendition the way a player does: a blocking request for the playlist that
// lists the next segment, then that segment, over one connection.
type llhlsViewer struct {
	client *http.Client
	dials  *atomic.Int32

	mu  sync.Mutex
	got []playedSegment
	err error
}

type playedSegment struct {
	msn   int
	size  int
	cert  string // the common name of the certificate of the connection it came over
	proto string
}

func (v *llhlsViewer) count() int { v.mu.Lock(); defer v.mu.Unlock(); return len(v.got) }

func (v *llhlsViewer) failure() error { v.mu.Lock(); defer v.mu.Unlock(); return v.err }

func (v *llhlsViewer) fail(err error) { v.mu.Lock(); defer v.mu.Unlock(); v.err = err }

func (v *llhlsViewer) play(ctx context.Context, playlist string) {
	base, err := url.Parse(playlist)
	if err != nil {
		v.fail(err)
		return
	}
	want := -1 // the next segment's media sequence number; -1 until the first playlist
	for ctx.Err() == nil {
		u := playlist
		if want >= 0 {
			u += "?_HLS_msn=" + strconv.Itoa(want)
		}
		body, _, err := v.get(ctx, u)
		if err != nil {
			if ctx.Err() == nil {
				v.fail(fmt.Errorf("playlist: %w", err))
			}
			return
		}
		seq, segs := mediaSequence(body), testutil.ParseMediaPlaylist(body).Segments
		if want < 0 {
			if len(segs) == 0 {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			want = seq + len(segs) - 1 // start at the newest complete segment
		}
		if i := want - seq; i >= 0 && i < len(segs) {
			ref, err := url.Parse(segs[i])
			if err != nil {
				v.fail(fmt.Errorf("segment URI %q: %w", segs[i], err))
				return
			}
			b, resp, err := v.get(ctx, base.ResolveReference(ref).String())
			if err != nil {
				if ctx.Err() == nil {
					v.fail(fmt.Errorf("segment %d: %w", want, err))
				}
				return
			}
			v.mu.Lock()
			v.got = append(v.got, playedSegment{msn: want, size: len(b), cert: resp.TLS.PeerCertificates[0].Subject.CommonName, proto: resp.Proto})
			v.mu.Unlock()
			want++
		} else if i < 0 {
			v.fail(fmt.Errorf("segment %d left the playlist (media sequence %d)", want, seq))
			return
		}
	}
}

func (v *llhlsViewer) get(ctx context.Context, u string) ([]byte, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%s: %s: %s", u, resp.Status, b)
	}
	return b, resp, nil
}

func mediaSequence(playlist []byte) int {
	for line := range strings.Lines(string(playlist)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "#EXT-X-MEDIA-SEQUENCE:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// installFile copies src over dst as certificate tools do: a new file renamed into place.
func installFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst+".tmp", b, 0o600))
	require.NoError(t, os.Rename(dst+".tmp", dst))
}
