// Package metrics keeps tagstream's counters and gauges and serves them in
// the Prometheus text format. It is deliberately tiny: a few labelled
// counters do not justify the Prometheus client's dependency tree.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds metrics in registration order.
type Registry struct {
	mu      sync.Mutex
	metrics []metric
}

type metric interface {
	write(w io.Writer)
	metricName() string
}

// Default is the registry /metrics serves.
var Default = &Registry{}

func (r *Registry) add(m metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A component restarted in the same process (a snapshotter moving to
	// a new generation) registers its metrics again: the new ones replace
	// the old, so a name is never exported twice.
	for i, old := range r.metrics {
		if old.metricName() == m.metricName() {
			r.metrics[i] = m
			return
		}
	}
	r.metrics = append(r.metrics, m)
}

// CounterVec is a counter with labels.
type CounterVec struct {
	name, help string
	labels     []string
	mu         sync.Mutex
	values     map[string]*atomic.Int64
}

// NewCounterVec registers a counter named name with the given label names.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{name: name, help: help, labels: labels, values: map[string]*atomic.Int64{}}
	r.add(c)
	return c
}

// Add adds n to the counter of the label values (in label order).
func (c *CounterVec) Add(n int64, values ...string) { c.Cell(values...).Add(n) }

// Inc adds one.
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

// Cell returns the counter of the label values, for a caller on a hot
// path to add to without Add's label join and lock.
func (c *CounterVec) Cell(values ...string) *atomic.Int64 {
	key := strings.Join(values, "\x00")
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.values[key]
	if !ok {
		v = new(atomic.Int64)
		c.values[key] = v
	}
	return v
}

// Value returns the counter of the label values.
func (c *CounterVec) Value(values ...string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.values[strings.Join(values, "\x00")]; ok {
		return v.Load()
	}
	return 0
}

func (c *CounterVec) metricName() string { return c.name }

func (c *CounterVec) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", c.name, c.help, c.name)
	c.mu.Lock()
	keys := make([]string, 0, len(c.values))
	for k := range c.values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s%s %d\n", c.name, labelString(c.labels, k), c.values[k].Load())
	}
	c.mu.Unlock()
}

func labelString(names []string, key string) string {
	if len(names) == 0 {
		return ""
	}
	vals := strings.Split(key, "\x00")
	parts := make([]string, len(names))
	for i, n := range names {
		v := ""
		if i < len(vals) {
			v = vals[i]
		}
		parts[i] = fmt.Sprintf("%s=%q", n, v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// GaugeFunc is a gauge read when scraped.
type GaugeFunc struct {
	name, help string
	fn         func() float64
}

// NewGaugeFunc registers a gauge whose value fn returns at scrape time.
func (r *Registry) NewGaugeFunc(name, help string, fn func() float64) *GaugeFunc {
	g := &GaugeFunc{name: name, help: help, fn: fn}
	r.add(g)
	return g
}

func (g *GaugeFunc) metricName() string { return g.name }

func (g *GaugeFunc) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", g.name, g.help, g.name, g.name, g.fn())
}

// ServeHTTP writes every metric in the Prometheus text format 0.0.4.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	r.mu.Lock()
	ms := slices.Clone(r.metrics)
	r.mu.Unlock()
	for _, m := range ms {
		m.write(w)
	}
}
