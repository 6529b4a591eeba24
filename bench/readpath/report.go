package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// wrkSummary is the line walk.lua's done() prints.
type wrkSummary struct {
	DurationUS int64 `json:"duration_us"`
	Requests   int64 `json:"requests"`
	Bytes      int64 `json:"bytes"`
	Errors     struct {
		Connect int64 `json:"connect"`
		Read    int64 `json:"read"`
		Write   int64 `json:"write"`
		Status  int64 `json:"status"`
		Timeout int64 `json:"timeout"`
	} `json:"errors"`
	LatencyUS struct {
		Min   int64   `json:"min"`
		Mean  float64 `json:"mean"`
		Stdev float64 `json:"stdev"`
		Max   int64   `json:"max"`
		P50   int64   `json:"p50"`
		P90   int64   `json:"p90"`
		P99   int64   `json:"p99"`
		P999  int64   `json:"p999"`
	} `json:"latency_us"`
	Threads int `json:"threads"`
}

const wrkPrefix = "readpath-wrk: "

// Run is one wrk run against one side.
type Run struct {
	Side        string  `json:"side"`
	Connections int     `json:"connections"`
	Threads     int     `json:"threads"`
	Order       int     `json:"order"` // 1 for the side that went first at this connection count
	DurationS   float64 `json:"duration_s"`
	Requests    int64   `json:"requests"`
	RequestsPS  float64 `json:"requests_per_s"`
	// TransferBPS counts what wrk read, headers and bodies (wrk's
	// Transfer/sec).
	TransferBPS     float64 `json:"transfer_bytes_per_s"`
	BytesPerRequest float64 `json:"bytes_per_request"`
	LatencyMS       Latency `json:"latency_ms"`
	// Non2xx is wrk's "Non-2xx or 3xx responses" (status >= 400).
	Non2xx        int64 `json:"non_2xx"`
	ConnectErrors int64 `json:"connect_errors"`
	ReadErrors    int64 `json:"read_errors"`
	WriteErrors   int64 `json:"write_errors"`
	Timeouts      int64 `json:"timeouts"`
	// ServerCPUS is the CPU time (user + system) of the server's
	// processes during the run; ServerCores that over the run's time.
	ServerCPUS  float64 `json:"server_cpu_s"`
	ServerCores float64 `json:"server_cores"`
	// WrkCPUS is wrk's own CPU time: the client shares the cores.
	WrkCPUS float64 `json:"wrk_cpu_s,omitempty"`
	// WrkText is wrk's own report.
	WrkText string `json:"wrk_text"`
	// Edge is what the edge did during the run: the edge side's runs only.
	Edge *EdgeStats `json:"edge,omitempty"`
}

// Latency is in milliseconds.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// parseWrk reads wrk's output with walk.lua's summary line.
func parseWrk(r io.Reader) (Run, error) {
	var run Run
	var text strings.Builder
	var sum *wrkSummary
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, wrkPrefix); ok {
			sum = &wrkSummary{}
			if err := json.Unmarshal([]byte(rest), sum); err != nil {
				return run, fmt.Errorf("wrk summary %q: %w", rest, err)
			}
			continue
		}
		text.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return run, err
	}
	if sum == nil {
		return run, errors.New("no " + strings.TrimSpace(wrkPrefix) + " line: was wrk run with -s walk.lua?")
	}
	if sum.DurationUS <= 0 || sum.Requests <= 0 {
		return run, fmt.Errorf("wrk made no request (duration %d µs, %d requests)", sum.DurationUS, sum.Requests)
	}
	secs := float64(sum.DurationUS) / 1e6
	ms := func(us int64) float64 { return float64(us) / 1e3 }
	run = Run{Threads: sum.Threads, DurationS: secs, Requests: sum.Requests,
		RequestsPS: float64(sum.Requests) / secs, TransferBPS: float64(sum.Bytes) / secs,
		BytesPerRequest: float64(sum.Bytes) / float64(sum.Requests),
		LatencyMS: Latency{Mean: sum.LatencyUS.Mean / 1e3, P50: ms(sum.LatencyUS.P50), P90: ms(sum.LatencyUS.P90),
			P99: ms(sum.LatencyUS.P99), P999: ms(sum.LatencyUS.P999), Max: ms(sum.LatencyUS.Max)},
		Non2xx: sum.Errors.Status, ConnectErrors: sum.Errors.Connect, ReadErrors: sum.Errors.Read,
		WriteErrors: sum.Errors.Write, Timeouts: sum.Errors.Timeout, WrkText: text.String()}
	return run, nil
}

// runWrk: `readpath wrk -side S -conns C ...` < wrk's output: one JSON line.
func runWrk(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("wrk", flag.ContinueOnError)
	side := fs.String("side", "", "tagstream, nginx or "+EdgeSide)
	conns := fs.Int("conns", 0, "wrk's connections")
	order := fs.Int("order", 0, "1 if this side went first at this connection count, else 2")
	cpu := fs.Float64("server-cpu-s", 0, "CPU seconds the server used during the run")
	wrkCPU := fs.Float64("wrk-cpu-s", 0, "CPU seconds wrk used")
	vBefore := fs.String("varnishstat-before", "", "the edge: `varnishstat -1 -j` before the run")
	vAfter := fs.String("varnishstat-after", "", "the edge: `varnishstat -1 -j` after the run")
	mBefore := fs.String("metrics-before", "", "the edge: tagstream's /metrics before the run (optional)")
	mAfter := fs.String("metrics-after", "", "the edge: tagstream's /metrics after the run (optional)")
	originCPU := fs.Float64("origin-cpu-s", 0, "the edge: CPU seconds tagstream used during the run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	run, err := parseWrk(in)
	if err != nil {
		return err
	}
	run.Side, run.Connections, run.Order, run.ServerCPUS, run.WrkCPUS = *side, *conns, *order, *cpu, *wrkCPU
	run.ServerCores = *cpu / run.DurationS
	if *vBefore != "" || *vAfter != "" {
		e, err := edgeStats(*vBefore, *vAfter, *mBefore, *mAfter, *originCPU)
		if err != nil {
			return err
		}
		run.Edge = &e
	}
	b, err := json.Marshal(run)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

// Ratio compares the sides at one connection count.
type Ratio struct {
	Connections int `json:"connections"`
	// RequestsPS is tagstream's requests/s over nginx's; P99 tagstream's
	// p99 over nginx's.
	RequestsPS float64 `json:"requests_per_s"`
	P99        float64 `json:"p99"`
}

// Results is bench/results/read-*.json.
type Results struct {
	Benchmark string            `json:"benchmark"`
	Time      string            `json:"time"`
	Machine   Machine           `json:"machine"`
	Versions  map[string]string `json:"versions"`
	Settings  map[string]string `json:"settings"`
	Mix       Mix               `json:"mix"`
	Runs      []Run             `json:"runs"`
	Ratios    []Ratio           `json:"ratios_tagstream_over_nginx"`
	// EdgeRatios compare the edge (Varnish in front of tagstream) with
	// nginx and with tagstream alone.
	EdgeRatios []EdgeRatio `json:"ratios_edge,omitempty"`
	// Notes hold what the script observed: the idle CPU, bodies that
	// changed during the runs, the trending sweeps.
	Notes map[string]string `json:"notes,omitempty"`
}

// Machine is where it ran.
type Machine struct {
	Nproc    int    `json:"nproc"`
	CPU      string `json:"cpu"`
	MemTotal string `json:"mem_total"`
	// LoadAvg is /proc/loadavg before the runs: others share the machine.
	LoadAvg string `json:"loadavg_before"`
	Kernel  string `json:"kernel,omitempty"`
}

func machine() Machine {
	m := Machine{Nproc: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				m.MemTotal = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// ratios pairs tagstream's and nginx's runs at each connection count.
func ratios(runs []Run) []Ratio {
	by := map[int]map[string]Run{}
	for _, r := range runs {
		if by[r.Connections] == nil {
			by[r.Connections] = map[string]Run{}
		}
		by[r.Connections][r.Side] = r
	}
	var out []Ratio
	for c, sides := range by {
		t, ok1 := sides["tagstream"]
		n, ok2 := sides["nginx"]
		if !ok1 || !ok2 || n.RequestsPS == 0 || n.LatencyMS.P99 == 0 {
			continue
		}
		out = append(out, Ratio{Connections: c, RequestsPS: t.RequestsPS / n.RequestsPS, P99: t.LatencyMS.P99 / n.LatencyMS.P99})
	}
	slices.SortFunc(out, func(a, b Ratio) int { return cmp.Compare(a.Connections, b.Connections) })
	return out
}

// kv is a repeatable -flag key=value.
type kv map[string]string

func (m kv) String() string { return fmt.Sprint(map[string]string(m)) }
func (m kv) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q is not key=value", s)
	}
	m[k] = v
	return nil
}

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	mixFile := fs.String("mix", "", "the page mix (readpath pages -mix)")
	nginxHeaders := fs.String("nginx-headers", "", "nginx's response headers of a hot page, one `Name: value` a line (curl -D)")
	edgeHeaders := fs.String("edge-headers", "", "the edge's response headers of the same page (curl -D)")
	runsFile := fs.String("runs", "", "the runs, one JSON line each (readpath wrk)")
	out := fs.String("out", "bench/results", "directory of the results")
	stamp := fs.String("stamp", time.Now().UTC().Format("20060102T150405Z"), "the results' name: read-STAMP.json and .md")
	loadavg := fs.String("loadavg", "", "/proc/loadavg before the runs")
	versions, settings, notes := kv{}, kv{}, kv{}
	fs.Var(versions, "version", "name=version, repeatable")
	fs.Var(settings, "setting", "name=value, repeatable")
	fs.Var(notes, "note", "name=text, repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res := Results{Benchmark: "read path: GET /v1/hashtags/{tag}, tagstream alone, nginx serving the same bodies, and Varnish (tagstream.vcl) in front of the same tagstream (issues 13 and 15)",
		Time: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Versions: versions, Settings: settings, Notes: notes}
	res.Machine.LoadAvg = *loadavg
	res.Versions["go"] = cmp.Or(res.Versions["go"], runtime.Version())
	b, err := os.ReadFile(*mixFile)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &res.Mix); err != nil {
		return fmt.Errorf("%s: %w", *mixFile, err)
	}
	if *nginxHeaders != "" {
		if res.Mix.NginxHeaders, err = readHeaders(*nginxHeaders); err != nil {
			return err
		}
	}
	if *edgeHeaders != "" {
		if res.Mix.EdgeHeaders, err = readHeaders(*edgeHeaders); err != nil {
			return err
		}
	}
	lines, err := readLines(*runsFile)
	if err != nil {
		return err
	}
	for _, l := range lines {
		var r Run
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return fmt.Errorf("%s: %w", *runsFile, err)
		}
		res.Runs = append(res.Runs, r)
	}
	res.Ratios = ratios(res.Runs)
	res.EdgeRatios = edgeRatios(res.Runs)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	md := markdown(res)
	base := filepath.Join(*out, "read-"+*stamp)
	if err := writeJSON(base+".json", res); err != nil {
		return err
	}
	if err := os.WriteFile(base+".md", []byte(md), 0o644); err != nil {
		return err
	}
	// read-latest.* are copies, not links: a copy survives a clean of old
	// results and shows in any file browser.
	if err := writeJSON(filepath.Join(*out, "read-latest.json"), res); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "read-latest.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	fmt.Fprintf(os.Stderr, "report: %s.json and .md (and read-latest.*)\n", base)
	return nil
}

// readHeaders reads `curl -D` output: the status line, then headers.
func readHeaders(file string) (map[string]string, error) {
	lines, err := readLines(file)
	if err != nil {
		return nil, err
	}
	h := map[string][]string{}
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, "HTTP/") {
			h[strings.TrimSpace(k)] = append(h[strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return headerMap(h), nil
}

func markdown(r Results) string {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Read path: tagstream, nginx and the edge, same bodies\n\n")
	p("%s, `scripts/bench-read.sh`. %s\n\n", r.Time, r.Benchmark)
	p("| side | connections | order | requests/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | transfer MiB/s | non-2xx | socket errors | timeouts | server CPU (cores) | wrk CPU (cores) |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	runs := slices.Clone(r.Runs)
	slices.SortStableFunc(runs, func(a, b Run) int {
		return cmp.Or(cmp.Compare(a.Connections, b.Connections), cmp.Compare(b.Side, a.Side))
	})
	for _, x := range runs {
		wrkCores := "–"
		if x.WrkCPUS > 0 {
			wrkCores = fmt.Sprintf("%.2f", x.WrkCPUS/x.DurationS)
		}
		p("| %s | %d | %d | %s | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f | %d | %d | %d | %.2f | %s |\n",
			x.Side, x.Connections, x.Order, thousands(x.RequestsPS), x.LatencyMS.P50, x.LatencyMS.P90, x.LatencyMS.P99,
			x.LatencyMS.P999, x.LatencyMS.Max, x.TransferBPS/(1<<20), x.Non2xx, x.ConnectErrors+x.ReadErrors+x.WriteErrors, x.Timeouts,
			x.ServerCores, wrkCores)
	}
	if len(r.EdgeRatios) > 0 {
		p("\nThe edge's server CPU is varnishd's (manager and child); tagstream's own during the edge's runs is in the edge's table below.\n")
	}
	writeRatios(p, r.Ratios, r.EdgeRatios)
	writeEdge(p, runs)
	m := r.Mix
	p("\n**Pages** (%d, each requested as often as the others, in one seeded order): ", m.Pages)
	p("%d hot (the most posted hashtags): %d with 100 top posts each carrying a signed image URL, %.0f top and %.0f recent posts and %.0f image URLs a page, body %s bytes mean (%s to %s); ",
		m.Hot.Pages, m.Hot.Top100WithImages, m.Hot.TopPostsMean, m.Hot.RecentPostsMean, m.Hot.ImageURLsMean,
		thousands(m.Hot.BodyBytesMean), thousands(float64(m.Hot.BodyBytesMin)), thousands(float64(m.Hot.BodyBytesMax)))
	p("%d from the tail (a seeded sample of the other hashtags): %d posts a page at most, %d without any image, %.1f top and %.1f recent posts a page, body %s bytes mean (median %s). ",
		m.Tail.Pages, m.Tail.PostCountMax, m.Tail.NoImage, m.Tail.TopPostsMean, m.Tail.RecentPostsMean,
		thousands(m.Tail.BodyBytesMean), thousands(float64(m.Tail.BodyBytesMedian)))
	p("Mean body per request %s bytes, %.1f signed image URLs per request.\n\n", thousands(m.BodyBytesMean), m.ImageURLsPerRequest)
	p("**Headers** of a hot page. tagstream: %s. nginx: %s.", headerList(m.TagstreamHeaders), headerList(m.NginxHeaders))
	if len(m.EdgeHeaders) > 0 {
		p(" The edge (no Accept-Encoding, as wrk asks): %s.", headerList(m.EdgeHeaders))
	}
	p("\n\n")
	p("**Machine**: %d cores (%s), %s, kernel %s; load average before the runs: %s. Other work shared the machine: see the notes.\n\n",
		r.Machine.Nproc, r.Machine.CPU, r.Machine.MemTotal, r.Machine.Kernel, r.Machine.LoadAvg)
	p("**Versions**: %s.\n\n", pairs(r.Versions))
	p("**Settings**: %s.\n", pairs(r.Settings))
	if len(r.Notes) > 0 {
		p("\n**Notes**:\n")
		for _, k := range sortedKeys(r.Notes) {
			p("- %s: %s\n", k, r.Notes[k])
		}
	}
	return b.String()
}

// writeRatios writes one table of the ratios at each connection count:
// tagstream over nginx, then, when the edge ran, the edge over nginx and
// over tagstream, its hit ratio and the share of its requests that reached
// tagstream.
func writeRatios(p func(string, ...any), rs []Ratio, es []EdgeRatio) {
	if len(es) == 0 {
		p("\n| connections | tagstream ÷ nginx requests/s | tagstream ÷ nginx p99 |\n|---|---|---|\n")
		for _, x := range rs {
			p("| %d | %.3f | %.2f |\n", x.Connections, x.RequestsPS, x.P99)
		}
		return
	}
	p("\n| connections | tagstream ÷ nginx requests/s | tagstream ÷ nginx p99 | edge ÷ nginx requests/s | edge ÷ nginx p99 | edge ÷ tagstream requests/s | edge ÷ tagstream p99 | edge hit ratio | edge requests that reached tagstream |\n")
	p("|---|---|---|---|---|---|---|---|---|\n")
	conns := map[int]bool{}
	for _, x := range rs {
		conns[x.Connections] = true
	}
	for _, x := range es {
		conns[x.Connections] = true
	}
	opt := func(v float64, format string) string {
		if v == 0 {
			return "–"
		}
		return fmt.Sprintf(format, v)
	}
	for _, c := range slices.Sorted(maps.Keys(conns)) {
		var t Ratio
		if i := slices.IndexFunc(rs, func(x Ratio) bool { return x.Connections == c }); i >= 0 {
			t = rs[i]
		}
		var e EdgeRatio
		if i := slices.IndexFunc(es, func(x EdgeRatio) bool { return x.Connections == c }); i >= 0 {
			e = es[i]
		}
		share := "–"
		if e.HitRatio > 0 || e.OriginShare > 0 {
			share = percent(e.OriginShare)
		}
		hits := "–"
		if e.HitRatio > 0 || e.OriginShare > 0 {
			hits = percent(e.HitRatio)
		}
		p("| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", c, opt(t.RequestsPS, "%.3f"), opt(t.P99, "%.2f"),
			opt(e.RequestsPSOverNginx, "%.3f"), opt(e.P99OverNginx, "%.2f"),
			opt(e.RequestsPSOverTagstream, "%.3f"), opt(e.P99OverTagstream, "%.2f"), hits, share)
	}
}

// writeEdge writes what the edge did during each of its runs.
func writeEdge(p func(string, ...any), runs []Run) {
	var edge []Run
	for _, x := range runs {
		if x.Side == EdgeSide && x.Edge != nil {
			edge = append(edge, x)
		}
	}
	if len(edge) == 0 {
		return
	}
	p("\n**The edge** during its measured runs (varnishstat's counters after less before; tagstream's own count of its page requests from its /metrics). ")
	p("Hit ratio: hits ÷ (hits + misses); reached tagstream: backend requests ÷ client requests. ")
	p("Varnish counts a request parked on a waiting list (another request is fetching the same object) again in client requests when it is woken: client requests = hits + misses + passes + waiting-list parks + the edge's own answers (purges, errors).\n\n")
	p("| connections | client requests | hits | misses | hit-for-miss | hit-for-pass | passes | waiting-list parks | backend requests | hit ratio | reached tagstream | tagstream's own count | purged keys | gunzips | varnishd CPU (cores) | tagstream CPU (cores) |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, x := range edge {
		e := x.Edge
		own, purged := "–", "–"
		if e.OriginPageRequests >= 0 {
			own = fmt.Sprintf("%s (%s)", thousands(float64(e.OriginPageRequests)), percent(e.OriginShareOwn))
		}
		if e.PurgedKeys >= 0 {
			purged = thousands(float64(e.PurgedKeys))
		}
		p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f |\n", x.Connections,
			thousands(float64(e.ClientReq)), thousands(float64(e.CacheHit)), thousands(float64(e.CacheMiss)),
			thousands(float64(e.CacheHitMiss)), thousands(float64(e.CacheHitPass)), thousands(float64(e.Pass)),
			thousands(float64(e.BusySleep)), thousands(float64(e.BackendReq)), percent(e.HitRatio), percent(e.OriginShare), own, purged,
			thousands(float64(e.Gunzip)), x.ServerCores, e.OriginCPUS/x.DurationS)
	}
}

// percent formats a share: 0.98765 is 98.77 %.
func percent(x float64) string { return fmt.Sprintf("%.2f %%", 100*x) }

func headerList(h map[string]string) string {
	if len(h) == 0 {
		return "(not recorded)"
	}
	var parts []string
	for _, k := range sortedKeys(h) {
		parts = append(parts, fmt.Sprintf("`%s: %s`", k, h[k]))
	}
	return strings.Join(parts, ", ")
}

func pairs(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %s", k, m[k]))
	}
	return strings.Join(parts, "; ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// thousands formats x rounded, with commas: 12,345.
func thousands(x float64) string {
	s := strconv.FormatInt(int64(x+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
