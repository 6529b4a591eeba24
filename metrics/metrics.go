// Package metrics is tagstream's Prometheus registry: every process serves
// its metrics at /metrics through the Prometheus client
// (github.com/prometheus/client_golang), with the Go runtime's and the
// process's own collectors beside tagstream's.
//
// Counters on hot paths (a table lookup, a page served) are plain atomic
// integers read at scrape time (CounterVec.Cell), so counting costs one
// atomic add; histograms and gauges are the client's own.
//
// Invariant, checked by metrics_test.go: a name is exported once per
// registry, whatever registers it again (a component restarted in the
// same process replaces its metrics), and Names lists every metric a
// registry can expose, which the Grafana dashboard's test checks its
// queries against.
package metrics

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds metrics by name.
type Registry struct {
	reg *prometheus.Registry
	mu  sync.Mutex
	// byName is what each name is registered as, so that registering a
	// name again replaces the old collector instead of failing.
	byName map[string]prometheus.Collector
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{reg: prometheus.NewRegistry(), byName: map[string]prometheus.Collector{}}
}

// Default is the registry /metrics serves: with the Go runtime's metrics
// (go_*) and the process's (process_*: CPU, memory, open files).
var Default = func() *Registry {
	r := NewRegistry()
	r.add("go", collectors.NewGoCollector())
	r.add("process", collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}()

func (r *Registry) add(name string, c prometheus.Collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.byName[name]; ok {
		r.reg.Unregister(old)
	}
	r.byName[name] = c
	// Registration fails only for a name registered twice or inconsistent
	// labels: a programming error, found by any test that starts the
	// component.
	r.reg.MustRegister(c)
}

// CounterVec is a counter with labels whose cells are atomic integers.
type CounterVec struct {
	desc   *prometheus.Desc
	labels int
	mu     sync.Mutex
	values map[string]*cell
}

type cell struct {
	n      atomic.Int64
	labels []string
}

// NewCounterVec registers a counter named name with the given label names.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{desc: prometheus.NewDesc(name, help, labels, nil), labels: len(labels), values: map[string]*cell{}}
	r.add(name, c)
	return c
}

// Add adds n to the counter of the label values (in label order).
func (c *CounterVec) Add(n int64, values ...string) { c.Cell(values...).Add(n) }

// Inc adds one.
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

// Cell returns the counter of the label values, for a caller on a hot
// path to add to without Add's label join and lock. Missing values are
// empty, extra ones dropped.
func (c *CounterVec) Cell(values ...string) *atomic.Int64 {
	vals := make([]string, c.labels)
	copy(vals, values)
	key := strings.Join(vals, "\x00")
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.values[key]
	if !ok {
		v = &cell{labels: vals}
		c.values[key] = v
	}
	return &v.n
}

// Value returns the counter of the label values.
func (c *CounterVec) Value(values ...string) int64 { return c.Cell(values...).Load() }

// Describe implements prometheus.Collector.
func (c *CounterVec) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *CounterVec) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	cells := make([]*cell, 0, len(c.values))
	for _, v := range c.values {
		cells = append(cells, v)
	}
	c.mu.Unlock()
	for _, v := range cells {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v.n.Load()), v.labels...)
	}
}

// NewGaugeFunc registers a gauge whose value fn returns at scrape time.
func (r *Registry) NewGaugeFunc(name, help string, fn func() float64) {
	r.add(name, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// NewCounterFunc registers a counter whose value fn returns at scrape
// time (a component's own atomic count).
func (r *Registry) NewCounterFunc(name, help string, fn func() float64) {
	r.add(name, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

// NewGaugeVec registers a gauge with labels.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	r.add(name, g)
	return g
}

// NewHistogramVec registers a histogram with labels; nil buckets are
// DurationBuckets.
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	if buckets == nil {
		buckets = DurationBuckets
	}
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	r.add(name, h)
	return h
}

// DurationBuckets are the default buckets of durations in seconds: from
// 0.5 ms (a page served from memory) to 30 s (a flush against a slow
// Cassandra, a decode of a large photo).
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Collector registers any Prometheus collector under name, replacing one
// registered under that name before.
func (r *Registry) Collector(name string, c prometheus.Collector) { r.add(name, c) }

// ServeHTTP serves every metric in the Prometheus exposition format the
// scraper asks for (text 0.0.4 by default, OpenMetrics on request).
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, req)
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Names returns the name of every metric the registry can expose, sorted,
// whether or not it has a value yet (a counter with labels shows in
// /metrics only once a cell exists).
func (r *Registry) Names() []string {
	ch := make(chan *prometheus.Desc)
	go func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.byName {
			c.Describe(ch)
		}
		close(ch)
	}()
	var names []string
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
