package varnish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/demo"
	"github.com/tagstream/tagstream/edge"
	"github.com/tagstream/tagstream/media"
	"github.com/tagstream/tagstream/pipeline"
	"github.com/tagstream/tagstream/pipeline/runtest"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/token"
)

var secret = []byte("edge-test-secret-0123456789abcdefgh")

// purgeInterval is the run's --edge-purge-interval here.
const purgeInterval = 500 * time.Millisecond

// edgeLag is the bound the test holds the edge to once the origin serves
// a change (topology.md, "The edge"): the purge interval, plus slack for
// the purge's round trip, the refetch and this test's polling on a
// loaded machine. The edge keeps pages for a minute here
// (Surrogate-Control, --edge-max-age), so only a purge can bring a change
// to the edge within the bound.
const edgeLag = purgeInterval + 1500*time.Millisecond

// deleteBound is the bound from a DELETE's 202 to the edge no longer
// serving the post: the pipeline's own delete bound (make chaos holds it
// at 10 s through SIGKILLs) plus edgeLag.
const deleteBound = 10*time.Second + edgeLag

type post struct {
	PostID    string `json:"post_id"`
	UserID    string `json:"user_id"`
	ImageID   string `json:"image_id"`
	ImageURL  string `json:"image_url"`
	LikeCount int64  `json:"like_count"`
}

type pageBody struct {
	PostCount int64  `json:"post_count"`
	Top       []post `json:"top_posts"`
	Recent    []post `json:"recent_posts"`
}

func (p pageBody) has(id string) bool {
	for _, l := range [][]post{p.Top, p.Recent} {
		for _, q := range l {
			if q.PostID == id {
				return true
			}
		}
	}
	return false
}

type answer struct {
	code  int
	cache string // X-Cache: HIT, MISS, PASS, STALE
	body  []byte
	hdr   http.Header
}

func (a answer) page(t *testing.T) pageBody {
	t.Helper()
	var p pageBody
	if a.code == http.StatusOK {
		if err := json.Unmarshal(a.body, &p); err != nil {
			t.Fatalf("page: %v: %s", err, a.body)
		}
	}
	return p
}

var client = &http.Client{Timeout: 20 * time.Second}

// do sends one request; hdr are header name, value pairs.
func do(t *testing.T, c *http.Client, method, url, tok, body string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1] // net/http sends req.Host, not the header
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{code: resp.StatusCode, cache: resp.Header.Get("X-Cache"), body: b, hdr: resp.Header}
}

func get(t *testing.T, url string) answer { t.Helper(); return do(t, client, "GET", url, "", "") }

// cached returns url's answer once the edge serves it from its cache: the
// pipeline may still purge a page the test just fetched (a ranking
// document, a purge's echo), so a test about what happens to a cached page
// starts from one.
func cached(t *testing.T, url string) answer {
	t.Helper()
	var a answer
	testenv.Await(t, 10*time.Second, "a cache hit for "+url, func() bool {
		a = get(t, url)
		return a.code == 200 && a.cache == "HIT"
	})
	return a
}

// originRequests is what the origin's /metrics counts for route, every
// status code together: requests that reached tagstream.
func originRequests(t *testing.T, origin, route string) int64 {
	t.Helper()
	a := get(t, origin+"/metrics")
	var n int64
	for _, line := range strings.Split(string(a.body), "\n") {
		if !strings.HasPrefix(line, "tagstream_http_requests_total{") || !strings.Contains(line, `route="`+route+`"`) {
			continue
		}
		v, err := strconv.ParseInt(line[strings.LastIndexByte(line, ' ')+1:], 10, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		n += v
	}
	return n
}

func mint(t *testing.T, user string) string {
	tok, err := token.Mint(secret, user, time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// awaitBoth polls the origin and the edge until cond holds for each, and
// returns when it first held at each.
func awaitBoth(t *testing.T, limit time.Duration, what, origin, edgeURL, path string, cond func(pageBody) bool) (atOrigin, atEdge time.Time) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for (atOrigin.IsZero() || atEdge.IsZero()) && time.Now().Before(deadline) {
		if atOrigin.IsZero() && cond(get(t, origin+path).page(t)) {
			atOrigin = time.Now()
		}
		if atEdge.IsZero() && cond(get(t, edgeURL+path).page(t)) {
			atEdge = time.Now()
		}
		time.Sleep(20 * time.Millisecond) // a polling period: the edge has no change feed to await
	}
	if atOrigin.IsZero() || atEdge.IsZero() {
		t.Fatalf("%s: not at the origin (%v) and the edge (%v) within %s", what, !atOrigin.IsZero(), !atEdge.IsZero(), limit)
	}
	return atOrigin, atEdge
}

// tagstream run with --edge-purge behind a real varnishd running
// tagstream.vcl, seeded with the demo's posts and photos through the edge:
// every behaviour issue 15 asks of the edge, in order, the origin's
// outage last.
func TestEdgeInFrontOfRun(t *testing.T) {
	port := freePort(t)
	v := startVarnish(t, port)
	data := t.TempDir()
	origin, stopOrigin := runtest.Start(t, pipeline.EmbeddedOptions{Data: data, HTTP: "127.0.0.1:" + strconv.Itoa(port),
		Rank: &processors.RankOptions{Interval: time.Second},
		API:  api.Config{EdgeMaxAge: time.Minute},
		Edge: &pipeline.EdgeOptions{Purgers: []edge.Purger{&edge.Varnish{URLs: []string{v.purgeURL}}}, Queue: edge.QueueConfig{Interval: purgeInterval}},
	}, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const posts = 60
	if _, err := demo.Seed(ctx, demo.Options{BaseURL: v.url, Secret: secret, Posts: posts}); err != nil {
		t.Fatalf("seeding through the edge: %v", err)
	}
	plan := demo.Plan(posts, 1)
	count := func(tag string) int64 {
		var n int64
		for _, p := range plan.Posts {
			if strings.Contains(p.Caption+" ", "#"+tag+" ") {
				n++
			}
		}
		return n
	}
	hot, second := plan.Tags[0], plan.Tags[1]
	hotPath, secondPath := "/v1/hashtags/"+strings.ToLower(hot), "/v1/hashtags/"+strings.ToLower(second)
	// Settled: every post counted, the top lists published, and nothing
	// changing any more (the same ETags two seconds apart).
	testenv.Await(t, time.Minute, "the seeded posts counted and ranked", func() bool {
		h, s := get(t, origin+hotPath).page(t), get(t, origin+secondPath).page(t)
		return h.PostCount == count(hot) && s.PostCount == count(second) && len(h.Top) > 0
	})
	var etags string
	var since time.Time
	testenv.Await(t, time.Minute, "the pages settled", func() bool {
		e := get(t, origin+hotPath).hdr.Get("ETag") + get(t, origin+secondPath).hdr.Get("ETag")
		if e != etags {
			etags, since = e, time.Now()
		}
		return time.Since(since) > 2*time.Second
	})

	t.Run("a hot page is served from the cache", func(t *testing.T) {
		if a := get(t, v.url+hotPath); a.code != 200 || (a.cache != "MISS" && a.cache != "HIT") || a.hdr.Get("Surrogate-Key") != "" {
			t.Fatalf("first GET through the edge: %d %s, Surrogate-Key %q (the edge must not show it)", a.code, a.cache, a.hdr.Get("Surrogate-Key"))
		}
		before, reached := v.stats(t), originRequests(t, origin, "GET /v1/hashtags/{tag}")
		for i := range 50 {
			if a := get(t, v.url+hotPath); a.code != 200 || a.cache != "HIT" {
				t.Fatalf("GET %d: %d %s", i, a.code, a.cache)
			}
		}
		// varnishd folds a session's counters into the totals when the
		// session ends, not at each request: close ours, then wait.
		client.CloseIdleConnections()
		var hits int64
		testenv.Await(t, 10*time.Second, "varnishstat counting the 50 hits", func() bool {
			hits = v.stats(t)["MAIN.cache_hit"] - before["MAIN.cache_hit"]
			return hits >= 50
		})
		if n := originRequests(t, origin, "GET /v1/hashtags/{tag}") - reached; n != 0 {
			t.Errorf("%d of 50 GETs reached tagstream", n)
		}
		if enc := do(t, client, "GET", v.url+hotPath, "", "", "Accept-Encoding", "gzip"); enc.hdr.Get("Content-Encoding") != "gzip" {
			t.Errorf("the edge does not compress the page's JSON: Content-Encoding %q", enc.hdr.Get("Content-Encoding"))
		}
		// Kept past the browsers' max-age (5 s) for Surrogate-Control's
		// minute, which only the edge sees.
		testenv.Await(t, 15*time.Second, "the cached page older than its max-age", func() bool {
			a := get(t, v.url+hotPath)
			if a.cache != "HIT" || a.hdr.Get("Surrogate-Control") != "" || !strings.Contains(a.hdr.Get("Cache-Control"), "max-age=5,") {
				t.Fatalf("waiting past max-age: %s, Surrogate-Control %q, Cache-Control %q", a.cache, a.hdr.Get("Surrogate-Control"), a.hdr.Get("Cache-Control"))
			}
			age, _ := strconv.Atoi(a.hdr.Get("Age"))
			return age > 6
		})
	})

	t.Run("a query or a Host of the client's makes no cache entry of its own", func(t *testing.T) {
		reached := originRequests(t, origin, "GET /v1/hashtags/{tag}")
		for i := range 5 {
			if a := get(t, v.url+hotPath+"?r="+strconv.Itoa(i)); a.code != 200 || a.cache != "HIT" {
				t.Errorf("GET with ?r=%d: %d %s", i, a.code, a.cache)
			}
			if a := do(t, client, "GET", v.url+hotPath, "", "", "Host", "x"+strconv.Itoa(i)+".example"); a.code != 200 || a.cache != "HIT" {
				t.Errorf("GET with Host x%d.example: %d %s", i, a.code, a.cache)
			}
		}
		if n := originRequests(t, origin, "GET /v1/hashtags/{tag}") - reached; n != 0 {
			t.Errorf("%d cache-busting GETs reached tagstream", n)
		}
	})

	t.Run("concurrent misses are one origin request", func(t *testing.T) {
		reached := originRequests(t, origin, "GET /v1/hashtags/{tag}")
		var wg sync.WaitGroup
		answers := make([]answer, 20)
		for i := range answers {
			wg.Go(func() { answers[i] = get(t, v.url+secondPath) })
		}
		wg.Wait()
		for i, a := range answers {
			if a.code != 200 || !bytes.Equal(a.body, answers[0].body) {
				t.Errorf("GET %d: %d, same body %v", i, a.code, bytes.Equal(a.body, answers[0].body))
			}
		}
		if n := originRequests(t, origin, "GET /v1/hashtags/{tag}") - reached; n != 1 {
			t.Errorf("20 concurrent GETs of an uncached page: %d origin requests, want 1", n)
		}
	})

	t.Run("a change in the top posts reaches the edge within the bound", func(t *testing.T) {
		pg := get(t, origin+hotPath).page(t)
		target := pg.Recent[len(pg.Recent)-1]
		if pg.Top[0].PostID == target.PostID {
			t.Fatalf("the oldest recent post %s already leads the top", target.PostID)
		}
		var last time.Time
		for i := range pg.Top[0].LikeCount - target.LikeCount + 2 {
			a := do(t, client, "POST", v.url+"/v1/posts/"+target.UserID+"/"+target.PostID+"/like", mint(t, fmt.Sprintf("fan%d", i)), "")
			if a.code != http.StatusAccepted || a.cache != "PASS" {
				t.Fatalf("like through the edge: %d %s %s", a.code, a.cache, a.body)
			}
			last = time.Now()
		}
		leads := func(p pageBody) bool { return len(p.Top) > 0 && p.Top[0].PostID == target.PostID }
		atOrigin, atEdge := awaitBoth(t, time.Minute, "the liked post leading the top", origin, v.url, hotPath, leads)
		t.Logf("top changed: at the origin %s after the last like, at the edge %s after the origin", atOrigin.Sub(last).Round(time.Millisecond), atEdge.Sub(atOrigin).Round(time.Millisecond))
		if lag := atEdge.Sub(atOrigin); lag > edgeLag {
			t.Errorf("the edge served the new top %s after the origin, bound %s", lag, edgeLag)
		}
	})

	t.Run("a purged page is never served again while the origin answers", func(t *testing.T) {
		cached(t, v.url+hotPath)
		if err := (&edge.Varnish{URLs: []string{v.purgeURL}}).Purge(ctx, []string{edge.HashtagKey(strings.ToLower(hot))}); err != nil {
			t.Fatal(err)
		}
		// Not STALE: with stale-while-revalidate the first reader after a
		// purge would still get the old page.
		if a := get(t, v.url+hotPath); a.code != 200 || a.cache != "MISS" {
			t.Errorf("the first GET after a soft purge: %d %s, want a MISS", a.code, a.cache)
		}
	})

	t.Run("a deleted post leaves the edge within the bound", func(t *testing.T) {
		pg := cached(t, v.url+hotPath).page(t)
		victim := pg.Top[0]
		if !pg.has(victim.PostID) {
			t.Fatalf("before the delete the edge must hold the page with the post")
		}
		a := do(t, client, "DELETE", v.url+"/v1/posts/"+victim.UserID+"/"+victim.PostID, mint(t, victim.UserID), "")
		if a.code != http.StatusAccepted || a.cache != "PASS" {
			t.Fatalf("delete through the edge: %d %s %s", a.code, a.cache, a.body)
		}
		accepted := time.Now()
		gone := func(p pageBody) bool { return p.PostCount > 0 && !p.has(victim.PostID) }
		atOrigin, atEdge := awaitBoth(t, time.Minute, "the deleted post gone", origin, v.url, hotPath, gone)
		t.Logf("deleted post gone: from the origin %s after the 202, from the edge %s after the origin", atOrigin.Sub(accepted).Round(time.Millisecond), atEdge.Sub(atOrigin).Round(time.Millisecond))
		if lag := atEdge.Sub(atOrigin); lag > edgeLag {
			t.Errorf("the edge served the deleted post %s after the origin stopped, bound %s", lag, edgeLag)
		}
		if took := atEdge.Sub(accepted); took > deleteBound {
			t.Errorf("the edge served the deleted post %s after its DELETE was accepted, bound %s", took, deleteBound)
		}
	})

	t.Run("an image is cached per width, no longer than its URL, and purged in every width at once", func(t *testing.T) {
		keys, err := media.LoadOrCreateKeyring(data)
		if err != nil {
			t.Fatal(err)
		}
		p := get(t, origin+hotPath).page(t).Recent[0]
		exp := time.Now().Add(3 * time.Second)
		short := keys.Build("", p.UserID, p.ImageID, 360, exp)
		if a := get(t, v.url+short); a.code != 200 || a.cache != "MISS" {
			t.Fatalf("first GET of a signed image: %d %s %s", a.code, a.cache, a.body)
		}
		if a := get(t, v.url+short); a.code != 200 || a.cache != "HIT" {
			t.Fatalf("second GET of a signed image: %d %s", a.code, a.cache)
		}
		var last200 time.Time
		var a answer
		testenv.Await(t, 15*time.Second, "the expired image URL refused at the edge", func() bool {
			a = get(t, v.url+short)
			if a.code == 200 {
				last200 = time.Now()
			}
			return a.code != 200
		})
		if a.code != http.StatusForbidden {
			t.Errorf("after its expiry the edge answers %d %s, want 403 as the origin does", a.code, a.body)
		}
		if late := last200.Sub(exp); late > 200*time.Millisecond {
			t.Errorf("the edge served the image %s after its URL expired", late)
		}
		if o := get(t, origin+short); o.code != http.StatusForbidden {
			t.Errorf("the origin answers the expired URL %d", o.code)
		}

		// An answer that says no-store (a missing image's 404) is never
		// kept: each request reaches the origin.
		missing := keys.Build("", p.UserID, "no-such-image", 360, time.Now().Add(time.Hour))
		imgs := originRequests(t, origin, "GET /img/{user}/{image}")
		for range 2 {
			if a := get(t, v.url+missing); a.code != http.StatusNotFound || a.cache == "HIT" {
				t.Errorf("a missing image through the edge: %d %s", a.code, a.cache)
			}
		}
		if n := originRequests(t, origin, "GET /img/{user}/{image}") - imgs; n != 2 {
			t.Errorf("two GETs of a no-store 404: %d reached tagstream", n)
		}

		long := keys.BuildAnyWidth("", p.UserID, p.ImageID, 160, time.Now().Add(time.Hour))
		widths := []string{long, strings.Replace(long, "w=160", "w=320", 1)}
		for _, u := range widths {
			get(t, v.url+u)
			if a := get(t, v.url+u); a.code != 200 || a.cache != "HIT" {
				t.Fatalf("GET %s: %d %s: one object per width", u, a.code, a.cache)
			}
		}
		if err := (&edge.Varnish{URLs: []string{v.purgeURL}}).Purge(ctx, []string{edge.ImageKey(p.UserID, p.ImageID)}); err != nil {
			t.Fatal(err)
		}
		for _, u := range widths {
			if a := get(t, v.url+u); a.code != 200 || a.cache != "MISS" {
				t.Errorf("after purging the image's key, GET %s: %d %s", u, a.code, a.cache)
			}
		}
	})

	t.Run("writes and authorized reads are never cached; purges only from the purgers", func(t *testing.T) {
		tok := mint(t, "writer")
		reached := originRequests(t, origin, "POST /v1/posts")
		body := `{"post_id":"edge-write-1","caption":"twice #edgewrites"}`
		for i := range 2 {
			if a := do(t, client, "POST", v.url+"/v1/posts", tok, body); a.code != http.StatusAccepted || a.cache != "PASS" {
				t.Fatalf("POST %d through the edge: %d %s %s", i, a.code, a.cache, a.body)
			}
		}
		if n := originRequests(t, origin, "POST /v1/posts") - reached; n != 2 {
			t.Errorf("two identical POSTs: %d reached tagstream", n)
		}
		for range 2 {
			if a := do(t, client, "GET", v.url+hotPath, tok, ""); a.code != 200 || a.cache != "PASS" {
				t.Errorf("GET with Authorization: %d %s", a.code, a.cache)
			}
		}
		for _, p := range []string{"/metrics", "/%6Detrics", "/readyz", "/healthz", "/v2/x", "/docs/x", "/openapi.jsonx"} {
			if a := get(t, v.url+p); a.code != http.StatusNotFound {
				t.Errorf("%s through the edge: %d", p, a.code)
			}
		}
		// The API's description is for readers too, and cached.
		for _, p := range []string{"/openapi.json", "/docs"} {
			if a := cached(t, v.url+p+"?r=1"); !bytes.Equal(a.body, get(t, origin+p).body) {
				t.Errorf("%s through the edge: not the origin's", p)
			}
		}
		other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
		// The document, which nothing else purges: cached, then refused
		// purges of its key, then still cached.
		cached(t, v.url+"/")
		if a := do(t, other, "PURGE", v.purgeURL+"/", "", "", "xkey-purge", edge.SiteKey); a.code != http.StatusForbidden {
			t.Errorf("PURGE from 127.0.0.2: %d %s", a.code, a.body)
		}
		if a := do(t, client, "PURGE", v.url+"/", "", "", "xkey-purge", edge.SiteKey); a.code != http.StatusForbidden {
			t.Errorf("PURGE on the readers' listener: %d %s", a.code, a.body)
		}
		if a := get(t, v.url+"/"); a.cache != "HIT" {
			t.Errorf("after refused purges the document is %s", a.cache)
		}
		if a := do(t, client, "PURGE", v.purgeURL+"/", "", ""); a.code != http.StatusBadRequest {
			t.Errorf("PURGE without keys: %d", a.code)
		}
	})

	t.Run("an operator's purge names what readers see (tagstream purge)", func(t *testing.T) {
		cached(t, v.url+hotPath)
		keys, err := edge.PurgeTargets(ctx, &edge.Varnish{URLs: []string{v.purgeURL}}, []string{"#" + strings.ToUpper(hot)})
		if err != nil || len(keys) != 1 || keys[0] != edge.HashtagKey(strings.ToLower(hot)) {
			t.Fatalf("purge #%s: %q, %v", strings.ToUpper(hot), keys, err)
		}
		if a := get(t, v.url+hotPath); a.code != 200 || a.cache != "MISS" {
			t.Errorf("after the operator's purge: %d %s", a.code, a.cache)
		}
	})

	t.Run("the edge serves pages while the origin is down", func(t *testing.T) {
		cached(t, v.url+"/")
		held := cached(t, v.url+hotPath)
		stopOrigin()
		// Expired by a purge, as a change would: only stale-if-error may
		// serve it now. First before the probe has noticed the outage (the
		// failed fetch is retried from the cache), then after.
		soft := &edge.Varnish{URLs: []string{v.purgeURL}}
		if err := soft.Purge(ctx, []string{edge.HashtagKey(strings.ToLower(hot))}); err != nil {
			t.Fatal(err)
		}
		if a := get(t, v.url+hotPath); a.code != 200 || a.cache != "STALE" || !bytes.Equal(a.body, held.body) {
			t.Errorf("origin down, probe not yet: %d %s, same body %v", a.code, a.cache, bytes.Equal(a.body, held.body))
		}
		testenv.Await(t, 10*time.Second, "the probe marking the origin sick", func() bool { return v.originSick(t) })
		if a := get(t, v.url+hotPath); a.code != 200 || a.cache != "STALE" || !bytes.Equal(a.body, held.body) {
			t.Errorf("origin sick: %d %s, same body %v", a.code, a.cache, bytes.Equal(a.body, held.body))
		}
		if err := soft.Purge(ctx, []string{edge.SiteKey}); err != nil {
			t.Fatal(err)
		}
		if a := get(t, v.url+"/"); a.code != 200 || a.cache != "STALE" {
			t.Errorf("the page's document, purged, origin down: %d %s", a.code, a.cache)
		}
		if a := get(t, v.url+"/v1/hashtags/neverfetched"); a.code != http.StatusServiceUnavailable || !json.Valid(a.body) {
			t.Errorf("a page the edge never held, origin down: %d %s", a.code, a.body)
		}
		hard := &edge.Varnish{URLs: []string{v.purgeURL}, Hard: true}
		if err := hard.Purge(ctx, []string{edge.HashtagKey(strings.ToLower(hot))}); err != nil {
			t.Fatal(err)
		}
		if a := get(t, v.url+hotPath); a.code != http.StatusServiceUnavailable {
			t.Errorf("after a hard purge (a takedown), origin down: %d %s", a.code, a.cache)
		}
	})
}
