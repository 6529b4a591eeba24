package pipeline

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tagstream/tagstream/metrics"
	"github.com/tagstream/tagstream/snapshot"
)

// metricRE finds the metric names of a PromQL query: tagstream's, the Go
// runtime's and the process's (every other identifier in the dashboard's
// queries is PromQL: functions, label names, by).
var metricRE = regexp.MustCompile(`\b(?:tagstream|go|process)_[a-zA-Z0-9_]+`)

// Every query of the Grafana dashboard names a metric the processes
// register, so no panel stays empty because of a renamed or missing
// metric; every panel has a query.
func TestDashboardQueriesNameExposedMetrics(t *testing.T) {
	// What `tagstream run` registers, the image origin's metrics
	// included (they are registered when its storage is set up), and the
	// snapshotter's, which `tagstream snapshot` registers in the default
	// registry.
	startEmbedded(t, t.TempDir(), 1)
	reg := metrics.NewRegistry()
	if _, err := snapshot.New(snapshot.Config{Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	names := append(metrics.Default.Names(), reg.Names()...)
	for _, want := range []string{"go_goroutines", "process_resident_memory_bytes", "tagstream_consumer_lag_records", "tagstream_table_keys"} {
		if !slices.Contains(names, want) {
			t.Fatalf("%s is not registered: the names are %v", want, names)
		}
	}
	b, err := os.ReadFile("../docker/grafana/dashboards/tagstream.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	if len(dash.Panels) < 10 {
		t.Fatalf("%d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			found := metricRE.FindAllString(q.Expr, -1)
			if len(found) == 0 {
				t.Errorf("panel %q: query %q names no metric", p.Title, q.Expr)
			}
			for _, m := range found {
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(m, suffix); ok && slices.Contains(names, b) {
						base = b
					}
				}
				if !slices.Contains(names, base) {
					t.Errorf("panel %q: %s is not a metric any process registers", p.Title, m)
				}
			}
		}
	}
}
