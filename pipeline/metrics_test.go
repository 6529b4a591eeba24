package pipeline

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/topology"
)

var labelRE = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// scrape reads /metrics of the API at addr: the sum of name's series
// whose labels include want, and whether any matched.
func scrape(t *testing.T, addr, name string, want map[string]string) (float64, bool) {
	t.Helper()
	_, body := do(t, http.MethodGet, "http://"+addr+"/metrics", "", "")
	var sum float64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labels := map[string]string{}
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			for _, m := range labelRE.FindAllStringSubmatch(rest[:end], -1) {
				labels[m[1]] = m[2]
			}
			rest = rest[end+1:]
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		sum += v
		found = true
	}
	return sum, found
}

// The processes' /metrics tell what they did: records consumed and
// written per group and topic (each post counted once by the extractor,
// whose aborted transactions count nothing), consumer lag per group and
// partition, table sizes, HTTP latency by route, and the Go runtime's
// and the process's own metrics. On the real Kafka the lag is read as
// the worker's principal, so its grants must allow it.
func TestMetricsTellWhatTheProcessesDid(t *testing.T) {
	old := lagInterval
	lagInterval = 200 * time.Millisecond
	t.Cleanup(func() { lagInterval = old })
	eachBackend(t, func(t *testing.T, b backend) {
		ns := b.namespace(t)
		n := b.start(t, t.TempDir(), 2, ns)
		g := topology.Gen{NS: ns}
		in := map[string]string{"group": g.Extractor(), "topic": ns.Posts()}
		before, _ := scrape(t, n.http, "tagstream_records_consumed_total", in)
		for i := range 3 {
			if resp, body := do(t, http.MethodPost, "http://"+n.http+"/v1/posts", bearer(t, "alice"),
				fmt.Sprintf(`{"caption":"#metered %d","post_id":"m%d"}`, i, i)); resp.StatusCode != http.StatusAccepted {
				t.Fatalf("post: %d %s", resp.StatusCode, body)
			}
		}
		awaitCount(t, n.http, "metered", 3)
		after, _ := scrape(t, n.http, "tagstream_records_consumed_total", in)
		if after-before != 3 {
			t.Errorf("the extractor consumed %v posts records, want 3", after-before)
		}
		for _, c := range []struct {
			name   string
			labels map[string]string
		}{
			{"tagstream_records_produced_total", map[string]string{"group": g.Extractor(), "topic": g.PostHashtags()}},
			{"tagstream_records_consumed_total", map[string]string{"group": g.Counts(), "topic": g.PostHashtags()}},
			{"tagstream_records_produced_total", map[string]string{"group": g.Counts(), "topic": g.Counts() + "-table"}},
			{"tagstream_table_keys", map[string]string{"table": g.Counts() + "-table"}},
			{"tagstream_http_request_duration_seconds_count", map[string]string{"route": "GET /v1/hashtags/{tag}", "code": "200"}},
			{"tagstream_http_request_duration_seconds_count", map[string]string{"route": "POST /v1/posts", "code": "202"}},
			{"go_goroutines", nil},
			{"process_resident_memory_bytes", nil},
		} {
			if v, ok := scrape(t, n.http, c.name, c.labels); !ok || v <= 0 {
				t.Errorf("%s%v = %v (found %v), want > 0", c.name, c.labels, v, ok)
			}
		}
		// Lag is read every lagInterval: each partition of the counts
		// group shows, and reaches 0 once the posts are counted.
		testenv.Await(t, 30*time.Second, "the counts group's lag, 0 on each partition", func() bool {
			_, body := do(t, http.MethodGet, "http://"+n.http+"/metrics", "", "")
			parts := 0
			for _, line := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(line, "tagstream_consumer_lag_records{") && strings.Contains(line, `group="`+g.Counts()+`"`) &&
					strings.Contains(line, `topic="`+g.PostHashtags()+`"`) {
					if !strings.HasSuffix(line, " 0") && !strings.HasSuffix(line, " 1") { // 1: a commit marker
						return false
					}
					parts++
				}
			}
			return parts == 2
		})
	})
}
