package throughput

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Spread is a measure over rounds: its median and its extremes.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// SpreadOf summarises xs.
func SpreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Sorted(slices.Values(xs))
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// Pct is the spread as ± percent of the median: half the range over it.
func (s Spread) Pct() float64 {
	if s.Median == 0 {
		return 0
	}
	return 100 * (s.Max - s.Min) / 2 / s.Median
}

// Summary is one system over every round.
type Summary struct {
	System        string `json:"system"`
	Label         string `json:"label"`
	PostsPerSec   Spread `json:"posts_per_second"`
	HashtagEvents Spread `json:"hashtag_events_per_second"`
	CPUSeconds    Spread `json:"cpu_seconds"`
	PeakRSSMiB    Spread `json:"peak_rss_mib"`
}

// Ratio is a's posts/s over b's, taken within each round (the two ran a
// few minutes apart on the same machine), then summarised.
type Ratio struct {
	Of    string `json:"of"`
	Over  string `json:"over"`
	Ratio Spread `json:"ratio"`
}

// Machine is what a result was measured on.
type Machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	MemGiB   int    `json:"mem_gib"`
	Go       string `json:"go"`
	Kernel   string `json:"kernel,omitempty"`
	Commit   string `json:"commit,omitempty"`
	Measured string `json:"measured"`
}

// ThisMachine describes the machine running it; commit is the checkout's.
func ThisMachine(commit string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Commit: commit, Measured: time.Now().UTC().Format(time.RFC3339)}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		var n int
		fmt.Sscanf(kb, "%d", &n)
		m.MemGiB = (n + 512*1024) / (1024 * 1024)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Result is a comparison's record: bench/results/pipeline-*.json.
type Result struct {
	Machine   Machine   `json:"machine"`
	Workload  Workload  `json:"workload"`
	Records   int       `json:"records"`
	Events    int       `json:"hashtag_events"`
	Hashtags  int       `json:"hashtags"`
	Runs      []Run     `json:"runs"`
	Summaries []Summary `json:"summaries"`
	Ratios    []Ratio   `json:"ratios"`
}

// The ratios reported: tagstream over what a team would pick instead, in
// the same guarantee (doing the same work, counts only, and doing its
// whole work), and over the limit.
var ratioPairs = [][2]string{
	{"tagstream-counts-eo", "kstreams-eos"},
	{"tagstream-counts-alo", "kstreams-alo"},
	{"tagstream-eo", "kstreams-eos"},
	{"tagstream-alo", "kstreams-alo"},
	{"tagstream-counts-eo", "limit"},
	{"tagstream-counts-alo", "limit"},
	{"tagstream-eo", "limit"},
	{"tagstream-alo", "limit"},
	{"run", "passthrough"},
}

// Summarise builds the result of runs.
func Summarise(m Machine, w Workload, l *Log, systems []System, runs []Run) *Result {
	w.defaults()
	r := &Result{Machine: m, Workload: w, Records: len(l.Records), Events: l.HashtagEvents, Hashtags: len(l.Counts), Runs: runs}
	of := func(name string, f func(Run) float64) []float64 {
		var xs []float64
		for _, run := range runs {
			if run.System == name {
				xs = append(xs, f(run))
			}
		}
		return xs
	}
	for _, s := range systems {
		r.Summaries = append(r.Summaries, Summary{System: s.Name, Label: s.Label,
			PostsPerSec:   SpreadOf(of(s.Name, func(r Run) float64 { return r.PostsPerSecond })),
			HashtagEvents: SpreadOf(of(s.Name, func(r Run) float64 { return r.HashtagEventsPerSecond })),
			CPUSeconds:    SpreadOf(of(s.Name, func(r Run) float64 { return r.CPUSeconds })),
			PeakRSSMiB:    SpreadOf(of(s.Name, func(r Run) float64 { return r.PeakRSSMiB })),
		})
	}
	for _, p := range ratioPairs {
		byRound := map[int]float64{}
		for _, run := range runs {
			if run.System == p[1] {
				byRound[run.Round] = run.PostsPerSecond
			}
		}
		var xs []float64
		for _, run := range runs {
			if d := byRound[run.Round]; run.System == p[0] && d > 0 {
				xs = append(xs, run.PostsPerSecond/d)
			}
		}
		if len(xs) > 0 {
			r.Ratios = append(r.Ratios, Ratio{Of: p[0], Over: p[1], Ratio: SpreadOf(xs)})
		}
	}
	return r
}

// Markdown is the result as the README quotes it.
func (r *Result) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d posts (%d records with edits, deletes and invalid ones; %d hashtag events over %d hashtags), seed %d, %d rounds; %s, %d cores, %d GiB, %s, commit %s, %s.\n\n",
		r.Workload.Posts, r.Records, r.Events, r.Hashtags, r.Workload.Seed, rounds(r.Runs), r.Machine.CPU, r.Machine.Cores, r.Machine.MemGiB, r.Machine.Go, r.Machine.Commit, r.Machine.Measured)
	b.WriteString("| system | posts/s (median, min–max) | hashtag events/s | CPU seconds | peak RSS MiB |\n|---|---|---|---|---|\n")
	for _, s := range r.Summaries {
		fmt.Fprintf(&b, "| %s | **%s** (%s–%s, ±%.0f %%) | %s | %.1f (%.1f–%.1f) | %.0f (%.0f–%.0f) |\n", s.Label,
			thousands(s.PostsPerSec.Median), thousands(s.PostsPerSec.Min), thousands(s.PostsPerSec.Max), s.PostsPerSec.Pct(),
			thousands(s.HashtagEvents.Median), s.CPUSeconds.Median, s.CPUSeconds.Min, s.CPUSeconds.Max,
			s.PeakRSSMiB.Median, s.PeakRSSMiB.Min, s.PeakRSSMiB.Max)
	}
	b.WriteString("\n| ratio of posts/s, within each round | median | min–max |\n|---|---|---|\n")
	for _, q := range r.Ratios {
		fmt.Fprintf(&b, "| %s ÷ %s | **%.2f** | %.2f–%.2f |\n", q.Of, q.Over, q.Ratio.Median, q.Ratio.Min, q.Ratio.Max)
	}
	return b.String()
}

func rounds(runs []Run) int {
	n := 0
	for _, r := range runs {
		n = max(n, r.Round)
	}
	return n
}

// thousands formats x rounded, with commas.
func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
