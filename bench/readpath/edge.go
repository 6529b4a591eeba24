package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// The edge side: Varnish with docker/varnish/tagstream.vcl in front of the
// same `tagstream run` the tagstream side measures. What wrk measures of it
// is in Run like any side; what the edge did during the run is Edge.

// EdgeSide is the side name of runs through Varnish.
const EdgeSide = "edge"

// EdgeStats is what the edge did during one measured run: varnishstat's
// counters read before and after it (deltas), and tagstream's own count of
// the page requests it answered meanwhile.
type EdgeStats struct {
	ClientReq    int64 `json:"client_req"`
	CacheHit     int64 `json:"cache_hit"`
	CacheMiss    int64 `json:"cache_miss"`
	CacheHitPass int64 `json:"cache_hitpass"`
	CacheHitMiss int64 `json:"cache_hitmiss"`
	Pass         int64 `json:"s_pass"`
	BackendReq   int64 `json:"backend_req"`
	// Synth counts the edge's own answers (errors, purges).
	Synth int64 `json:"s_synth"`
	// BusySleep counts requests parked on a waiting list (another request
	// was fetching the same object), BusyWakeup those woken. Varnish 7.1
	// counts a parked request again in client_req when it comes back, so
	// client_req = hits + misses + passes + synth + busy_sleep (checked on
	// the benchmark's runs), and hits + misses are the requests answered
	// from a lookup.
	BusySleep  int64 `json:"busy_sleep"`
	BusyWakeup int64 `json:"busy_wakeup"`
	// Gunzip counts responses the edge decompressed for a client that did
	// not ask for gzip (tagstream.vcl stores JSON gzipped).
	Gunzip int64 `json:"n_gunzip"`
	// HitRatio is cache_hit / (cache_hit + cache_miss).
	HitRatio float64 `json:"hit_ratio"`
	// OriginShare is backend_req / client_req: the share of the edge's
	// requests that reached tagstream.
	OriginShare float64 `json:"origin_share"`
	// OriginPageRequests is tagstream's tagstream_http_requests_total of
	// GET /v1/hashtags/{tag} over the run (its /metrics before and after),
	// -1 when not read: the cross-check of BackendReq. OriginShareOwn is it
	// over ClientReq.
	OriginPageRequests int64   `json:"origin_page_requests"`
	OriginShareOwn     float64 `json:"origin_share_tagstream_count"`
	// PurgedKeys is tagstream's tagstream_edge_purged_keys_total over the
	// run (-1 when not read): --edge-purge's purges while wrk ran.
	PurgedKeys int64 `json:"purged_keys"`
	// OriginCPUS is tagstream's CPU time during the run (the side's
	// ServerCPUS is varnishd's).
	OriginCPUS float64 `json:"origin_cpu_s"`
}

// readVarnishstat reads `varnishstat -1 -j`: counter name to value. Values
// are uint64 (a gauge below zero shows as 2^64-1): read as such, wrapped
// into int64, so that a counter's difference is right either way.
func readVarnishstat(file string) (map[string]int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Counters map[string]struct {
			Value uint64 `json:"value"`
		} `json:"counters"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Counters) == 0 {
		return nil, fmt.Errorf("%s: no counters (varnishstat -1 -j of Varnish 6.5 or later?)", file)
	}
	out := make(map[string]int64, len(doc.Counters))
	for k, v := range doc.Counters {
		out[k] = int64(v.Value)
	}
	return out, nil
}

// promSum sums the samples of metric in a Prometheus text exposition whose
// labels include every one of labels (`name="value"` each).
func promSum(file, metric string, labels ...string) (float64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sum := 0.0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		series, value := rest, ""
		if i := strings.LastIndexByte(rest, ' '); i >= 0 {
			series, value = rest[:i], rest[i+1:]
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(series, l) {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", file, line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// pageRoute is the route label of the pages in tagstream's metrics.
const pageRoute = `route="GET /v1/hashtags/{tag}"`

// edgeStats computes a run's EdgeStats from varnishstat before and after
// it and, if both are named, tagstream's /metrics before and after.
func edgeStats(vBefore, vAfter, mBefore, mAfter string, originCPU float64) (EdgeStats, error) {
	b, err := readVarnishstat(vBefore)
	if err != nil {
		return EdgeStats{}, err
	}
	a, err := readVarnishstat(vAfter)
	if err != nil {
		return EdgeStats{}, err
	}
	d := func(k string) int64 { return a["MAIN."+k] - b["MAIN."+k] }
	e := EdgeStats{ClientReq: d("client_req"), CacheHit: d("cache_hit"), CacheMiss: d("cache_miss"),
		CacheHitPass: d("cache_hitpass"), CacheHitMiss: d("cache_hitmiss"), Pass: d("s_pass"),
		BackendReq: d("backend_req"), Synth: d("s_synth"), Gunzip: d("n_gunzip"),
		BusySleep: d("busy_sleep"), BusyWakeup: d("busy_wakeup"),
		OriginPageRequests: -1, PurgedKeys: -1, OriginCPUS: originCPU}
	if n := e.CacheHit + e.CacheMiss; n > 0 {
		e.HitRatio = float64(e.CacheHit) / float64(n)
	}
	if e.ClientReq > 0 {
		e.OriginShare = float64(e.BackendReq) / float64(e.ClientReq)
	}
	if mBefore == "" || mAfter == "" {
		return e, nil
	}
	delta := func(metric string, labels ...string) (int64, error) {
		x, err := promSum(mBefore, metric, labels...)
		if err != nil {
			return 0, err
		}
		y, err := promSum(mAfter, metric, labels...)
		if err != nil {
			return 0, err
		}
		return int64(y - x + 0.5), nil
	}
	if e.OriginPageRequests, err = delta("tagstream_http_requests_total", pageRoute); err != nil {
		return e, err
	}
	if e.ClientReq > 0 {
		e.OriginShareOwn = float64(e.OriginPageRequests) / float64(e.ClientReq)
	}
	if e.PurgedKeys, err = delta("tagstream_edge_purged_keys_total", `result="ok"`); err != nil {
		return e, err
	}
	return e, nil
}

// EdgeRatio compares the edge with nginx and with tagstream alone at one
// connection count.
type EdgeRatio struct {
	Connections int `json:"connections"`
	// RequestsPSOverNginx is the edge's requests/s over nginx's, and so on.
	RequestsPSOverNginx     float64 `json:"requests_per_s_over_nginx"`
	P99OverNginx            float64 `json:"p99_over_nginx"`
	RequestsPSOverTagstream float64 `json:"requests_per_s_over_tagstream"`
	P99OverTagstream        float64 `json:"p99_over_tagstream"`
	HitRatio                float64 `json:"hit_ratio"`
	OriginShare             float64 `json:"origin_share"`
}

// edgeRatios pairs the edge's runs with nginx's and tagstream's at each
// connection count; a ratio whose other side is missing is 0.
func edgeRatios(runs []Run) []EdgeRatio {
	by := map[int]map[string]Run{}
	for _, r := range runs {
		if by[r.Connections] == nil {
			by[r.Connections] = map[string]Run{}
		}
		by[r.Connections][r.Side] = r
	}
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	var out []EdgeRatio
	for c, sides := range by {
		e, ok := sides[EdgeSide]
		if !ok {
			continue
		}
		n, t := sides["nginx"], sides["tagstream"]
		x := EdgeRatio{Connections: c,
			RequestsPSOverNginx: div(e.RequestsPS, n.RequestsPS), P99OverNginx: div(e.LatencyMS.P99, n.LatencyMS.P99),
			RequestsPSOverTagstream: div(e.RequestsPS, t.RequestsPS), P99OverTagstream: div(e.LatencyMS.P99, t.LatencyMS.P99)}
		if e.Edge != nil {
			x.HitRatio, x.OriginShare = e.Edge.HitRatio, e.Edge.OriginShare
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b EdgeRatio) int { return cmp.Compare(a.Connections, b.Connections) })
	return out
}
