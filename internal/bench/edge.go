package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// cmdEdge measures what an edge adds in front of an origin: how much later a part becomes visible in the
// edge's playlist than in the origin's (both followed with blocking reloads), and how many requests the
// edge sends upstream per object while many viewers fetch every new part through it.
func cmdEdge(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("edge", stderr)
	origin := fs.String("origin", "", "origin base URL, e.g. http://127.0.0.1:8080")
	edge := fs.String("edge", "", "edge base URL")
	stream := fs.String("stream", "live/fan", "stream path")
	viewers := fs.Int("viewers", 50, "viewers following every part through the edge")
	d := fs.Duration("duration", 20*time.Second, "how long to measure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *origin == "" || *edge == "" {
		return usageErr("-origin and -edge are required")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 15 * time.Second}
	rendition, err := firstRendition(ctx, client, *origin+"/"+*stream+"/index.m3u8")
	if err != nil {
		return err
	}
	mctx, cancel := context.WithTimeout(ctx, *d)
	defer cancel()

	upBefore, err := edgeUpstream(ctx, client, *edge)
	if err != nil {
		return err
	}
	var seenOrigin, seenEdge sync.Map // "msn/part" → time first listed
	var wg sync.WaitGroup
	for _, f := range []struct {
		base string
		seen *sync.Map
	}{{*origin, &seenOrigin}, {*edge, &seenEdge}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			follow(mctx, client, f.base+"/"+*stream+"/"+rendition, f.seen, nil)
		}()
	}
	var fetched sync.Map // part URI → true
	var viewerRequests atomic.Int64
	for i := 0; i < *viewers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pl := *edge + "/" + *stream + "/" + rendition
			follow(mctx, client, pl, nil, func(newest string) {
				viewerRequests.Add(1)
				if newest == "" {
					return
				}
				resp, err := client.Get(*edge + "/" + *stream + "/" + newest)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					fetched.Store(newest, true)
				}
			})
		}()
	}
	wg.Wait()
	upAfter, err := edgeUpstream(ctx, client, *edge)
	if err != nil {
		return err
	}

	var added []float64
	seenOrigin.Range(func(k, v any) bool {
		if te, ok := seenEdge.Load(k); ok {
			added = append(added, float64(te.(time.Time).Sub(v.(time.Time)).Microseconds())/1000)
		}
		return true
	})
	objects := 0
	fetched.Range(func(any, any) bool { objects++; return true })
	if len(added) == 0 || objects == 0 {
		return fmt.Errorf("no part was seen on both origin and edge (origin %s, edge %s)", *origin, *edge)
	}
	sort.Float64s(added)
	media := upAfter["media"] - upBefore["media"]
	blocking := upAfter["blocking"] - upBefore["blocking"]
	log.Info("edge measured", "parts", len(added), "objects", objects, "upstreamMedia", media)
	med, per := percentile(added, 50), media/float64(objects)
	verdict := func(ok bool, miss string) string {
		if ok {
			return "**met**"
		}
		return "**missed** (" + miss + ")"
	}
	fmt.Fprintln(stdout, "| viewers | parts compared | added visibility latency median ms | p95 ms | objects fetched by viewers | upstream media requests | per object | viewer playlist requests | upstream blocking playlist requests | ≤ 20 ms median | one request per object |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|---|---|---|")
	fmt.Fprintf(stdout, "| %d | %d | %.2f | %.2f | %d | %.0f | %.2f | %d | %.0f | %s | %s |\n", *viewers, len(added),
		med, percentile(added, 95), objects, media, per, viewerRequests.Load(), blocking,
		verdict(med <= 20, fmt.Sprintf("%.1f ms", med)), verdict(per <= 1.0, fmt.Sprintf("%.2f", per)))
	return nil
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// firstRendition returns the first media playlist named by a multivariant playlist.
func firstRendition(ctx context.Context, c *http.Client, index string) (string, error) {
	for i := 0; i < 50; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, index, nil)
		req.Header.Set("X-Nagare-Relay", "1") // a measurement, not a viewer
		resp, err := c.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				sc := bufio.NewScanner(strings.NewReader(string(b)))
				for sc.Scan() {
					l := strings.TrimSpace(sc.Text())
					if l != "" && !strings.HasPrefix(l, "#") {
						u, _, _ := strings.Cut(l, "?")
						return u, nil
					}
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", fmt.Errorf("%s has no media playlist", index)
}

// follow keeps up with a media playlist with blocking reloads for the next part, recording when each part
// is first listed (seen) and telling onUpdate the newest part's URI.
func follow(ctx context.Context, c *http.Client, pl string, seen *sync.Map, onUpdate func(newest string)) {
	msn, part := int64(-1), int64(0)
	for ctx.Err() == nil {
		u := pl
		if msn >= 0 {
			u = fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", pl, msn, part)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := c.Do(req)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		now := time.Now()
		if resp.StatusCode != http.StatusOK {
			msn = -1
			time.Sleep(50 * time.Millisecond)
			continue
		}
		next, parts, uris := liveEdge(string(b))
		if seen != nil {
			for i := int64(0); i < parts; i++ {
				seen.LoadOrStore(fmt.Sprintf("%d/%d", next, i), now)
			}
		}
		if onUpdate != nil && len(uris) > 0 {
			onUpdate(uris[len(uris)-1])
		}
		msn, part = next, parts
	}
}

var partURI = regexp.MustCompile(`#EXT-X-PART:.*URI="([^"]+)"`)

// liveEdge returns the segment being written, how many of its parts are listed, and their URIs.
func liveEdge(pl string) (next, parts int64, uris []string) {
	var seq, segments int64
	sc := bufio.NewScanner(strings.NewReader(pl))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"):
			seq, _ = strconv.ParseInt(strings.TrimPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
		case strings.HasPrefix(l, "#EXTINF:"):
			segments++
			parts, uris = 0, nil
		case strings.HasPrefix(l, "#EXT-X-PART:"):
			parts++
			if m := partURI.FindStringSubmatch(l); m != nil {
				uris = append(uris, m[1])
			}
		}
	}
	return seq + segments, parts, uris
}

var upstreamLine = regexp.MustCompile(`nagare_upstream_requests_total\{kind="(\w+)",result="200"\} (\d+)`)

// edgeUpstream reads the edge's successful upstream requests by kind.
func edgeUpstream(ctx context.Context, c *http.Client, edge string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, edge+"/metrics", nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, m := range upstreamLine.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] = v
	}
	return out, nil
}
