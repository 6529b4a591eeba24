package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/ids"
	"github.com/tagstream/tagstream/load"
)

func small() dataOptions {
	return dataOptions{Posts: 3000, Seed: 7, Users: 1000, Tags: 2000, PerPost: 8, Zipf: 1.1,
		Hot: 20, ImagesPerHot: 110, TagsPerImagePost: 4, LoadLikeShare: 0.1}
}

// The posts are `tagstream load`'s own: load.NewGenerator with the same
// options, in order.
func TestLoadPostsAreLoadsPosts(t *testing.T) {
	d := small()
	posts, counts := loadPosts(d)
	g := load.NewGenerator(d.loadOptions())
	want := map[string]int{}
	for i := range d.Posts {
		p := g.Next()
		if p.ID != posts[i].ID || p.User != posts[i].User || p.Caption != posts[i].Caption {
			t.Fatalf("post %d: %+v, load generates %+v", i, posts[i], p)
		}
		for _, k := range p.Keys {
			want[k]++
		}
	}
	if len(want) != len(counts) {
		t.Fatalf("%d hashtags counted, load's posts have %d", len(counts), len(want))
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: counted %d, load's posts have %d", k, counts[k], n)
		}
	}
}

func TestByCountMostPostsFirstTiesByKey(t *testing.T) {
	got := byCount(map[string]int{"ldb": 2, "lda": 2, "ldc": 5, "ldd": 1})
	if want := []string{"ldc", "lda", "ldb", "ldd"}; !slices.Equal(got, want) {
		t.Fatalf("byCount = %v, want %v", got, want)
	}
}

func TestImagePostsCoverEveryHotKey(t *testing.T) {
	d := small()
	_, counts := loadPosts(d)
	hot := byCount(counts)[:d.Hot]
	imgs := imagePosts(d, hot)
	per := map[string]int{}
	imageID := regexp.MustCompile(`^[A-Z2-7]{26}$`)
	for _, p := range imgs {
		if !ids.Valid(p.User) || !ids.Valid(p.ID) || !ids.Valid(p.ImageID) || !imageID.MatchString(p.ImageID) {
			t.Fatalf("invalid ids: %+v", p)
		}
		if len(p.Keys) != d.TagsPerImagePost {
			t.Fatalf("%s has %d hashtags, want %d", p.ID, len(p.Keys), d.TagsPerImagePost)
		}
		seen := map[string]bool{}
		for _, k := range p.Keys {
			if seen[k] {
				t.Fatalf("%s names %s twice", p.ID, k)
			}
			seen[k] = true
			per[k]++
			if !strings.Contains(strings.ToLower(p.Caption), "#"+k) {
				t.Fatalf("%s: caption %q lacks #%s", p.ID, p.Caption, k)
			}
		}
		if p.Likes < 2 || p.Likes > 50 {
			t.Fatalf("%s: %d likes, want 2 to 50", p.ID, p.Likes)
		}
	}
	for _, k := range hot {
		if per[k] < d.ImagesPerHot {
			t.Errorf("%s: %d image posts, want at least %d", k, per[k], d.ImagesPerHot)
		}
	}
	if len(per) != len(hot) {
		t.Errorf("image posts name %d hashtags, want the %d hot ones only", len(per), len(hot))
	}
	if again := imagePosts(d, hot); !slices.EqualFunc(imgs, again, func(a, b imagePost) bool {
		return a.ID == b.ID && a.User == b.User && a.ImageID == b.ImageID && a.Caption == b.Caption && a.Likes == b.Likes
	}) {
		t.Error("the same seed gave other image posts")
	}
}

// Image posts have at least 2 likes from distinct likers, load posts at
// most 1: every image post ranks above every load post of its hashtags
// (created later too), so a hot page's top 100 are image posts.
func TestLikesPutImagePostsOnTop(t *testing.T) {
	d := small()
	posts, counts := loadPosts(d)
	imgs := imagePosts(d, byCount(counts)[:d.Hot])
	likes := likeEvents(d, imgs, posts, time.Unix(0, 0))
	likers := map[string]map[string]bool{}
	for _, l := range likes {
		if !ids.Valid(l.LikerID) {
			t.Fatalf("invalid liker %q", l.LikerID)
		}
		k := l.UserID + "/" + l.PostID
		if likers[k] == nil {
			likers[k] = map[string]bool{}
		}
		likers[k][l.LikerID] = true
	}
	for _, p := range imgs {
		if n := len(likers[p.User+"/"+p.ID]); n != p.Likes {
			t.Errorf("%s: %d distinct likers, want %d", p.ID, n, p.Likes)
		}
	}
	liked := 0
	for _, p := range posts {
		if n := len(likers[p.User+"/"+p.ID]); n > 1 {
			t.Fatalf("load post %s has %d likes", p.ID, n)
		} else if n == 1 {
			liked++
		}
	}
	if share := float64(liked) / float64(len(posts)); math.Abs(share-d.LoadLikeShare) > 0.03 {
		t.Errorf("%.3f of the load's posts liked, want about %.2f", share, d.LoadLikeShare)
	}
}

func TestChoosePages(t *testing.T) {
	d := small()
	_, counts := loadPosts(d)
	hot, tail := choosePages(counts, 20, 100, d.Seed)
	if !slices.Equal(hot, byCount(counts)[:20]) {
		t.Fatal("the hot set is not the most posted hashtags")
	}
	if len(tail) != 100 {
		t.Fatalf("%d tail pages, want 100", len(tail))
	}
	inHot := map[string]bool{}
	for _, k := range hot {
		inHot[k] = true
	}
	seen := map[string]bool{}
	for _, k := range tail {
		if inHot[k] || seen[k] || counts[k] == 0 {
			t.Fatalf("tail key %s: hot %v, repeated %v, posts %d", k, inHot[k], seen[k], counts[k])
		}
		seen[k] = true
	}
	hot2, tail2 := choosePages(counts, 20, 100, d.Seed)
	if !slices.Equal(hot, hot2) || !slices.Equal(tail, tail2) {
		t.Fatal("the same seed chose other pages")
	}
	paths := urlOrder(append(slices.Clone(hot), tail...), d.Seed)
	sorted := slices.Sorted(slices.Values(paths))
	var want []string
	for _, k := range append(slices.Clone(hot), tail...) {
		want = append(want, pagePath(k))
	}
	slices.Sort(want)
	if !slices.Equal(sorted, want) {
		t.Fatal("the URL list is not every page once")
	}
	// Shuffled: the hot pages are not all at the front.
	front := 0
	for _, p := range paths[:20] {
		if inHot[strings.TrimPrefix(p, "/v1/hashtags/")] {
			front++
		}
	}
	if front == 20 {
		t.Fatal("the URL list is not shuffled")
	}
}

func TestMix(t *testing.T) {
	full := pageStat{bytes: 60000, top: 100, recent: 100, images: 200, count: 500}
	tailPage := pageStat{bytes: 400, top: 0, recent: 2, images: 0, count: 2}
	m := mixOf([]pageStat{full, full}, []pageStat{tailPage, tailPage, tailPage})
	if m.Pages != 5 || m.Top100WithImages != 2 || m.NoImage != 3 || m.Hot.BodyBytesMedian != 60000 || m.Tail.PostCountMax != 2 {
		t.Fatalf("mix %+v", m)
	}
	if want := (2*60000 + 3*400) / 5.0; m.BodyBytesMean != want {
		t.Fatalf("mean body %.1f, want %.1f", m.BodyBytesMean, want)
	}
	if m.ImageURLsPerRequest != 80 {
		t.Fatalf("image URLs per request %.1f, want 80", m.ImageURLsPerRequest)
	}
}

// A real wrk 4.1.0 output with walk.lua (a third of the paths missing).
const wrkOutput = `Running 1s test @ http://127.0.0.1:28390
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.70ms    3.54ms  36.99ms   96.77%
    Req/Sec   586.90    192.97     1.31k    85.71%
  Latency Distribution
     50%    3.19ms
     75%    3.91ms
     90%    4.97ms
     99%   26.11ms
  1230 requests in 1.10s, 374.16KB read
  Non-2xx or 3xx responses: 410
Requests/sec:   1117.77
Transfer/sec:    340.02KB
readpath-wrk: {"duration_us":1100405,"requests":1230,"bytes":383139,"errors":{"connect":0,"read":0,"write":0,"status":410,"timeout":0},"latency_us":{"min":538,"mean":3703.4,"stdev":3536.9,"max":36985,"p50":3191,"p90":4974,"p99":26111,"p999":36863},"threads":2}
`

func TestParseWrk(t *testing.T) {
	var out bytes.Buffer
	if err := runWrk([]string{"-side", "nginx", "-conns", "4", "-order", "2", "-server-cpu-s", "0.55"}, strings.NewReader(wrkOutput), &out); err != nil {
		t.Fatal(err)
	}
	var r Run
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 0.01*math.Abs(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// wrk's own Requests/sec and Transfer/sec (KB = KiB) agree.
	near("requests/s", r.RequestsPS, 1117.77)
	near("transfer", r.TransferBPS, 340.02*1024)
	near("p50", r.LatencyMS.P50, 3.19)
	near("p99", r.LatencyMS.P99, 26.11)
	near("p99.9", r.LatencyMS.P999, 36.863)
	near("cores", r.ServerCores, 0.55/1.100405)
	if r.Non2xx != 410 || r.Side != "nginx" || r.Connections != 4 || r.Order != 2 || r.Threads != 2 || strings.Contains(r.WrkText, wrkPrefix) {
		t.Fatalf("run %+v", r)
	}
	if _, err := parseWrk(strings.NewReader("Running 1s test\n")); err == nil {
		t.Fatal("wrk output without walk.lua's line parsed")
	}
}

func TestRatiosAndMarkdown(t *testing.T) {
	run := func(side string, c int, rps, p99 float64) Run {
		return Run{Side: side, Connections: c, RequestsPS: rps, DurationS: 20, LatencyMS: Latency{P99: p99}}
	}
	r := Results{Runs: []Run{run("nginx", 256, 10000, 40), run("tagstream", 64, 2000, 30), run("nginx", 64, 8000, 10), run("tagstream", 256, 1000, 400)},
		Versions: map[string]string{"wrk": "4.1.0"}, Settings: map[string]string{"duration": "20s"}}
	r.Ratios = ratios(r.Runs)
	if len(r.Ratios) != 2 || r.Ratios[0] != (Ratio{64, 0.25, 3}) || r.Ratios[1] != (Ratio{256, 0.1, 10}) {
		t.Fatalf("ratios %+v", r.Ratios)
	}
	md := markdown(r)
	for _, want := range []string{"| tagstream | 64 | 0 | 2,000 |", "| nginx | 256 | 0 | 10,000 |", "| 64 | 0.250 | 3.00 |", "| 256 | 0.100 | 10.00 |", "wrk 4.1.0"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestThousands(t *testing.T) {
	for x, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 1234567.8: "1,234,568"} {
		if got := thousands(x); got != want {
			t.Errorf("thousands(%v) = %q, want %q", x, got, want)
		}
	}
}

func TestWalkLuaPrintsTheSummaryLine(t *testing.T) {
	for _, want := range []string{"function setup(", "function init(", "function request(", "function done(", wrkPrefix} {
		if !strings.Contains(walkLua, want) {
			t.Errorf("walk.lua lacks %q", want)
		}
	}
	if strings.Contains(walkLua, "function response(") {
		t.Error("walk.lua defines response(): wrk would parse every response in Lua")
	}
}

// varnishstat writes `varnishstat -1 -j` of Varnish 7 with the counters given.
func varnishstat(t *testing.T, counters map[string]int64) string {
	t.Helper()
	doc := map[string]any{"version": 1, "timestamp": "2026-11-30T12:00:00"}
	cs := map[string]any{"MGT.uptime": map[string]any{"description": "Management process uptime", "flag": "c", "format": "d", "value": 9},
		// A gauge below zero, as Varnish 7.1 shows some.
		"MAIN.n_objectcore": map[string]any{"description": "objectcores", "flag": "g", "format": "i", "value": uint64(math.MaxUint64)}}
	for k, v := range counters {
		cs[k] = map[string]any{"description": k, "flag": "c", "format": "i", "value": v}
	}
	doc["counters"] = cs
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "varnishstat.json")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func metricsFile(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "metrics")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// The edge's figures are deltas of varnishstat's counters around the run;
// tagstream's own count sums every status of the page route only.
func TestEdgeStats(t *testing.T) {
	before := varnishstat(t, map[string]int64{"MAIN.client_req": 1000, "MAIN.cache_hit": 900, "MAIN.cache_miss": 100,
		"MAIN.backend_req": 100, "MAIN.s_pass": 0, "MAIN.n_gunzip": 500})
	after := varnishstat(t, map[string]int64{"MAIN.client_req": 21000, "MAIN.cache_hit": 20700, "MAIN.cache_miss": 300,
		"MAIN.backend_req": 310, "MAIN.s_pass": 10, "MAIN.cache_hitpass": 2, "MAIN.n_gunzip": 20500, "MAIN.busy_sleep": 40, "MAIN.busy_wakeup": 39})
	mBefore := metricsFile(t, `# HELP tagstream_http_requests_total HTTP requests by route and status code.
# TYPE tagstream_http_requests_total counter
tagstream_http_requests_total{route="GET /v1/hashtags/{tag}",code="200"} 50000
tagstream_http_requests_total{route="GET /v1/hashtags/{tag}",code="304"} 7
tagstream_http_requests_total{route="GET /healthz",code="200"} 40
tagstream_edge_purged_keys_total{result="ok"} 3
tagstream_edge_purged_keys_total{result="error"} 1
`)
	mAfter := metricsFile(t, `tagstream_http_requests_total{route="GET /v1/hashtags/{tag}",code="200"} 50150
tagstream_http_requests_total{route="GET /v1/hashtags/{tag}",code="304"} 57
tagstream_http_requests_total{route="GET /healthz",code="200"} 60
tagstream_http_requests_total_other{route="GET /v1/hashtags/{tag}",code="200"} 1e9
tagstream_edge_purged_keys_total{result="ok"} 5
tagstream_edge_purged_keys_total{result="error"} 9
`)
	e, err := edgeStats(before, after, mBefore, mAfter, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	want := EdgeStats{ClientReq: 20000, CacheHit: 19800, CacheMiss: 200, CacheHitPass: 2, Pass: 10, BackendReq: 210, Gunzip: 20000, BusySleep: 40, BusyWakeup: 39,
		HitRatio: 0.99, OriginShare: 0.0105, OriginPageRequests: 200, OriginShareOwn: 0.01, PurgedKeys: 2, OriginCPUS: 1.5}
	if e != want {
		t.Fatalf("edge stats\n%+v, want\n%+v", e, want)
	}
	e, err = edgeStats(before, after, "", "", 0)
	if err != nil || e.OriginPageRequests != -1 || e.PurgedKeys != -1 || e.ClientReq != 20000 {
		t.Fatalf("without metrics: %+v, %v", e, err)
	}
	if _, err := edgeStats(before, metricsFile(t, "{}"), "", "", 0); err == nil {
		t.Fatal("varnishstat without counters read")
	}
}

func TestRunWrkEdge(t *testing.T) {
	before := varnishstat(t, map[string]int64{"MAIN.client_req": 0, "MAIN.cache_hit": 0, "MAIN.cache_miss": 0, "MAIN.backend_req": 0})
	after := varnishstat(t, map[string]int64{"MAIN.client_req": 1230, "MAIN.cache_hit": 1200, "MAIN.cache_miss": 30, "MAIN.backend_req": 30})
	var out bytes.Buffer
	if err := runWrk([]string{"-side", EdgeSide, "-conns", "4", "-order", "3", "-server-cpu-s", "0.5",
		"-varnishstat-before", before, "-varnishstat-after", after, "-origin-cpu-s", "0.1"}, strings.NewReader(wrkOutput), &out); err != nil {
		t.Fatal(err)
	}
	var r Run
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Side != EdgeSide || r.Edge == nil || r.Edge.ClientReq != 1230 || math.Abs(r.Edge.HitRatio-1200.0/1230) > 1e-9 || r.Edge.OriginCPUS != 0.1 {
		t.Fatalf("run %+v, edge %+v", r, r.Edge)
	}
	out.Reset()
	if err := runWrk([]string{"-side", "nginx", "-conns", "4"}, strings.NewReader(wrkOutput), &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), `"edge"`) {
		t.Fatalf("a run of nginx has edge figures: %s", out.String())
	}
}

func TestEdgeRatiosAndMarkdown(t *testing.T) {
	run := func(side string, c int, rps, p99 float64) Run {
		return Run{Side: side, Connections: c, RequestsPS: rps, DurationS: 20, ServerCPUS: 20, ServerCores: 1, LatencyMS: Latency{P99: p99}}
	}
	edge := func(c int, rps, p99 float64, hit, share float64) Run {
		r := run(EdgeSide, c, rps, p99)
		r.Edge = &EdgeStats{ClientReq: 100000, CacheHit: 99000, CacheMiss: 1000, BackendReq: 1000, HitRatio: hit, OriginShare: share, BusySleep: 7,
			OriginPageRequests: 1001, OriginShareOwn: 0.01001, PurgedKeys: -1, OriginCPUS: 4}
		return r
	}
	r := Results{Runs: []Run{run("nginx", 64, 8000, 10), edge(64, 12000, 5, 0.99, 0.01), run("tagstream", 64, 2000, 30),
		run("nginx", 256, 10000, 40), run("tagstream", 256, 1000, 400), edge(256, 5000, 80, 0.98, 0.02)}}
	r.Ratios = ratios(r.Runs)
	r.EdgeRatios = edgeRatios(r.Runs)
	if len(r.Ratios) != 2 || r.Ratios[0] != (Ratio{64, 0.25, 3}) {
		t.Fatalf("ratios %+v: the edge must not enter tagstream ÷ nginx", r.Ratios)
	}
	want := []EdgeRatio{{64, 1.5, 0.5, 6, 5.0 / 30, 0.99, 0.01}, {256, 0.5, 2, 5, 0.2, 0.98, 0.02}}
	if !slices.Equal(r.EdgeRatios, want) {
		t.Fatalf("edge ratios\n%+v, want\n%+v", r.EdgeRatios, want)
	}
	md := markdown(r)
	for _, want := range []string{
		"| tagstream | 64 | 0 | 2,000 |", "| nginx | 64 | 0 | 8,000 |", "| edge | 64 | 0 | 12,000 |",
		"| 64 | 0.250 | 3.00 | 1.500 | 0.50 | 6.000 | 0.17 | 99.00 % | 1.00 % |",
		"| 256 | 0.100 | 10.00 | 0.500 | 2.00 | 5.000 | 0.20 | 98.00 % | 2.00 % |",
		"| 64 | 100,000 | 99,000 | 1,000 | 0 | 0 | 0 | 7 | 1,000 | 99.00 % | 1.00 % | 1,001 (1.00 %) | – | 0 | 1.00 | 0.20 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Sides in a fixed order at each connection count: tagstream, nginx, the edge.
	if i, j, k := strings.Index(md, "| tagstream | 256"), strings.Index(md, "| nginx | 256"), strings.Index(md, "| edge | 256"); !(i < j && j < k) {
		t.Errorf("rows out of order (%d, %d, %d):\n%s", i, j, k, md)
	}
}
