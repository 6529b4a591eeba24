package metrics

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("/metrics: %d", w.Code)
	}
	return w.Body.String()
}

// A name registered again replaces the old metric: exported once, with
// the new one's values (a component restarted in the same process).
func TestRegisteringAgainReplaces(t *testing.T) {
	r := NewRegistry()
	old := r.NewCounterVec("test_things_total", "Things.", "kind")
	old.Add(5, "a")
	fresh := r.NewCounterVec("test_things_total", "Things.", "kind")
	fresh.Inc("a")
	body := scrape(t, r)
	if strings.Count(body, "# TYPE test_things_total counter") != 1 || !strings.Contains(body, `test_things_total{kind="a"} 1`) {
		t.Errorf("after registering again:\n%s", body)
	}
	r.NewGaugeFunc("test_level", "Level.", func() float64 { return 1 })
	r.NewGaugeFunc("test_level", "Level.", func() float64 { return 2 })
	if body := scrape(t, r); !strings.Contains(body, "test_level 2") || strings.Count(body, "\ntest_level ") != 1 {
		t.Errorf("gauge registered twice:\n%s", body)
	}
}

// Cells are the counter's values, missing label values empty and extra
// ones dropped; Value reads them.
func TestCounterCells(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounterVec("test_cells_total", "Cells.", "a", "b")
	c.Cell("x", "y").Add(3)
	c.Inc("x")
	c.Add(2, "x", "y", "ignored")
	if c.Value("x", "y") != 5 || c.Value("x") != 1 || c.Value("x", "") != 1 {
		t.Errorf("values %d %d", c.Value("x", "y"), c.Value("x"))
	}
	body := scrape(t, r)
	for _, want := range []string{`test_cells_total{a="x",b="y"} 5`, `test_cells_total{a="x",b=""} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

// Names lists what a registry can expose, histograms and counters with
// no value yet included; Default has the Go runtime's and the process's.
func TestNames(t *testing.T) {
	r := NewRegistry()
	r.NewCounterVec("test_empty_total", "Never counted.", "x")
	r.NewHistogramVec("test_seconds", "Durations.", nil, "route")
	if got := r.Names(); !slices.Equal(got, []string{"test_empty_total", "test_seconds"}) {
		t.Errorf("Names %v", got)
	}
	names := Default.Names()
	for _, want := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if !slices.Contains(names, want) {
			t.Errorf("Default lacks %s", want)
		}
	}
	if body := scrape(t, Default); !strings.Contains(body, "go_goroutines ") {
		t.Error("Default's /metrics has no go_goroutines")
	}
}
