package contract

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/pipeline"
	"github.com/tagstream/tagstream/pipeline/runtest"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/token"
)

// schemathesis is the binary: TAGSTREAM_SCHEMATHESIS, or the one
// services/schemathesis.sh ensure installs in this checkout.
func schemathesis(t *testing.T) string {
	if p := os.Getenv("TAGSTREAM_SCHEMATHESIS"); p != "" {
		return p
	}
	p, err := filepath.Abs("../../.services/schemathesis-venv/bin/schemathesis")
	if err == nil {
		if _, err = os.Stat(p); err == nil {
			return p
		}
	}
	testenv.Skip(t, "no schemathesis: run services/schemathesis.sh ensure, or set TAGSTREAM_SCHEMATHESIS")
	return ""
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// TestSchemathesis runs schemathesis's checks, every one of them, against
// `tagstream run --demo` with a bearer token of a demo user: no 5xx, every
// status, header and body as api/openapi.yaml says, invalid data refused
// with a 4xx and valid data not, 405 with Allow for a method a path does
// not take, 401 without the token (schemathesis.toml says what it adds).
// The write limit is off: behind it, all but the first 30 writes would be
// 429s, which pass every check and test nothing.
func TestSchemathesis(t *testing.T) {
	st := schemathesis(t)
	seed := envInt(t, "TAGSTREAM_CONTRACT_SEED", 1)
	examples := envInt(t, "TAGSTREAM_CONTRACT_EXAMPLES", 50)
	secret := make([]byte, 32)
	rand.Read(secret)
	dir := t.TempDir()
	o := pipeline.EmbeddedOptions{Data: dir, Demo: true, Rank: &processors.RankOptions{Interval: time.Second}}
	o.API.WriteRate = -1
	base, _ := runtest.Start(t, o, secret)
	// Seeded through the API before the run, so that pages, trending and
	// images have something to show.
	testenv.Await(t, 3*time.Minute, "the demo seeded", func() bool {
		_, err := os.Stat(filepath.Join(dir, pipeline.DemoMarker))
		return err == nil
	})
	tok, err := token.Mint(secret, "alice", time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	config, err := filepath.Abs("schemathesis.toml")
	if err != nil {
		t.Fatal(err)
	}
	before := successes(t, base)
	reports := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, st, "--config-file", config, "run", base+"/openapi.json",
		"--header", "Authorization: Bearer "+tok,
		"--seed", strconv.Itoa(seed), "--max-examples", strconv.Itoa(examples), "--workers", "1",
		"--continue-on-failure", "--request-timeout", "30", "--no-color",
		"--report", "junit", "--report-dir", reports)
	// Nothing written into the checkout: Hypothesis's directory and the
	// working directory are the test's.
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "HYPOTHESIS_STORAGE_DIRECTORY="+filepath.Join(cmd.Dir, "hypothesis"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("schemathesis, seed %d, %d examples per operation: %s", seed, examples, time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("schemathesis: %v (repeat with TAGSTREAM_CONTRACT_SEED=%d):\n%s", err, seed, out.Bytes())
	}
	// A run that tested nothing passes too: it must have tested every
	// operation of the document (its report has a test case of each).
	t.Logf("schemathesis: %s", lastLines(out.Bytes(), 12))
	// And it must have been answered a success at least once by each
	// (a 2xx, or the search's 303): an operation that only ever saw 4xx
	// had its success's schema, headers and data acceptance tested by
	// nothing.
	tested, after := testCases(t, reports), successes(t, base)
	for _, op := range operations(t) {
		switch op {
		case "GET /openapi.json":
			// The document itself, which schemathesis leaves out.
			continue
		case "GET /img/{user_id}/{image_id}":
			// Only a signed URL gets a 2xx, and none can be generated: api's
			// tests check the image answers against the document.
			continue
		}
		if !tested[op] {
			t.Errorf("schemathesis did not test %s", op)
		}
		// /metrics is the Prometheus handler's, which counts no requests.
		if k := routeKey(op); after[k] <= before[k] && op != "GET /metrics" {
			t.Errorf("schemathesis got no 2xx or 3xx from %s", op)
		}
	}
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// routeKey spells a document's operation and a metric's route alike.
func routeKey(route string) string { return pathParam.ReplaceAllString(route, "{}") }

var (
	requestsLine = regexp.MustCompile(`^tagstream_http_requests_total\{(.*)\} (\d+)$`)
	codeLabel    = regexp.MustCompile(`code="(\d+)"`)
	routeLabel   = regexp.MustCompile(`route="([^"]+)"`)
)

// successes are the 2xx and 3xx answers the API has counted, by route
// (routeKey).
func successes(t *testing.T, base string) map[string]int64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int64{}
	for _, line := range strings.Split(string(body), "\n") {
		m := requestsLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		code, route := codeLabel.FindStringSubmatch(m[1]), routeLabel.FindStringSubmatch(m[1])
		if code == nil || route == nil || (code[1][0] != '2' && code[1][0] != '3') {
			continue
		}
		v, _ := strconv.ParseInt(m[2], 10, 64)
		n[routeKey(route[1])] += v
	}
	return n
}

// operations are the document's, as "METHOD /path".
func operations(t *testing.T) []string {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "patch", "delete":
				ops = append(ops, strings.ToUpper(method)+" "+path)
			}
		}
	}
	if len(ops) < 18 {
		t.Fatalf("the document has %d operations", len(ops))
	}
	return ops
}

// testCases are the names of the test cases of the JUnit report in dir.
func testCases(t *testing.T, dir string) map[string]bool {
	files, err := filepath.Glob(filepath.Join(dir, "junit*.xml"))
	if err != nil || len(files) != 1 {
		t.Fatalf("schemathesis's JUnit report in %s: %v %v", dir, files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Cases []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite>testcase"`
	}
	if err := xml.Unmarshal(b, &report); err != nil {
		t.Fatalf("schemathesis's JUnit report: %v", err)
	}
	names := map[string]bool{}
	for _, c := range report.Cases {
		names[c.Name] = true
	}
	return names
}

// lastLines is the end of b, its summary.
func lastLines(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	return bytes.Join(lines[max(0, len(lines)-n):], []byte("\n"))
}
