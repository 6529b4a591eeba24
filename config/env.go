package config

import (
	"fmt"
	"sort"
	"strings"
)

// Variables read by the tests, the scripts and the compose file, not by a
// command: a process started by them sees these and must not refuse them.
var (
	toolVars = []string{"TAGSTREAM_NO_SKIP", "TAGSTREAM_SERVICES_DIR", "TAGSTREAM_IMAGE", "TAGSTREAM_EDGE_PORT", "TAGSTREAM_COST_POSTS",
		// The binaries of the tests' tools (services/*.sh), which
		// make test exports before it starts the services.
		"TAGSTREAM_SCHEMATHESIS", "TAGSTREAM_CHROMIUM", "TAGSTREAM_VARNISHD", "TAGSTREAM_SCREENSHOTS"}
	toolPrefixes = []string{"TAGSTREAM_TEST_", "TAGSTREAM_CHAOS_", "TAGSTREAM_CONTRACT_"}
)

// CheckEnv returns an error naming every TAGSTREAM_* variable of environ
// that no command reads (a misspelt TAGSTREAM_BROKER would otherwise be
// ignored, and the process would talk to the default broker), with the
// closest valid name.
func CheckEnv(environ []string) error {
	known := map[string]bool{}
	for name := range defs {
		known[EnvName(name)] = true
		if secretFlags[name] {
			known[EnvName(name+fileSuffix)] = true
		}
	}
	for _, v := range toolVars {
		known[v] = true
	}
	var bad []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "TAGSTREAM_") || known[name] {
			continue
		}
		tool := false
		for _, p := range toolPrefixes {
			tool = tool || strings.HasPrefix(name, p)
		}
		if !tool {
			bad = append(bad, fmt.Sprintf("%s (did you mean %s?)", name, closest(name, known)))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("config: no command reads %s", strings.Join(bad, ", "))
}

// closest returns the known name at the least edit distance from name.
func closest(name string, known map[string]bool) string {
	best, bestD := "", -1
	for k := range known {
		if d := distance(name, k); bestD < 0 || d < bestD || d == bestD && k < best {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
