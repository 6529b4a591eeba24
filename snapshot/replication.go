package snapshot

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// maxReplicationLen bounds a replication setting: a dozen data centres
// fit in far less.
const maxReplicationLen = 1024

// MaxReplicas is the largest replication factor accepted, per data centre.
const MaxReplicas = 99

var dcName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$`)

// ParseReplication checks a keyspace's replication setting and returns it
// as the CQL map CREATE KEYSPACE takes. It accepts the short form
//
//	SimpleStrategy:1
//	NetworkTopologyStrategy:dc1=3,dc2=3
//
// (the class, then the replication factor, or each data centre's) and the
// CQL map itself ({'class': 'SimpleStrategy', 'replication_factor': 1}).
// Anything else is an error saying what is wrong: the result is spliced
// into DDL, so no other text gets through.
func ParseReplication(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxReplicationLen {
		return "", fmt.Errorf("snapshot: replication setting of %d bytes, at most %d", len(s), maxReplicationLen)
	}
	class, factors, err := splitReplication(s)
	if err != nil {
		return "", fmt.Errorf("snapshot: replication %q: %w (want SimpleStrategy:N or NetworkTopologyStrategy:dc1=N,dc2=N)", s, err)
	}
	return replicationMap(class, factors), nil
}

// splitReplication returns the class and its factors (key "" for
// SimpleStrategy's one), checked.
func splitReplication(s string) (string, map[string]int, error) {
	var class string
	kv := map[string]string{}
	if strings.HasPrefix(s, "{") {
		body, ok := strings.CutSuffix(s[1:], "}")
		if !ok {
			return "", nil, fmt.Errorf("a CQL map must end with }")
		}
		for _, e := range strings.Split(body, ",") {
			k, v, ok := strings.Cut(e, ":")
			if !ok {
				return "", nil, fmt.Errorf("%q is not 'key': value", strings.TrimSpace(e))
			}
			k, v = unquote(k), unquote(v)
			if _, dup := kv[k]; dup {
				return "", nil, fmt.Errorf("%q given twice", k)
			}
			kv[k] = v
		}
		class = strings.TrimPrefix(kv["class"], "org.apache.cassandra.locator.")
		delete(kv, "class")
		if r, ok := kv["replication_factor"]; ok && class == "SimpleStrategy" {
			delete(kv, "replication_factor")
			kv[""] = r
		}
	} else {
		c, rest, ok := strings.Cut(s, ":")
		if !ok {
			return "", nil, fmt.Errorf("no class")
		}
		class = strings.TrimSpace(c)
		switch class {
		case "SimpleStrategy":
			kv[""] = rest
		case "NetworkTopologyStrategy":
			for _, e := range strings.Split(rest, ",") {
				k, v, ok := strings.Cut(e, "=")
				if !ok {
					return "", nil, fmt.Errorf("%q is not datacentre=replicas", strings.TrimSpace(e))
				}
				k = strings.TrimSpace(k)
				if _, dup := kv[k]; dup {
					return "", nil, fmt.Errorf("data centre %q given twice", k)
				}
				kv[k] = v
			}
		}
	}
	switch class {
	case "SimpleStrategy":
		if len(kv) != 1 || kv[""] == "" {
			return "", nil, fmt.Errorf("SimpleStrategy takes its replication factor alone")
		}
	case "NetworkTopologyStrategy":
		if len(kv) == 0 {
			return "", nil, fmt.Errorf("NetworkTopologyStrategy names each data centre's replicas")
		}
		for k := range kv {
			if k == "replication_factor" {
				return "", nil, fmt.Errorf("NetworkTopologyStrategy names each data centre's replicas, not a replication_factor")
			}
			if !dcName.MatchString(k) {
				return "", nil, fmt.Errorf("%q is not a data centre name (letters, digits, _ . -, up to 48)", k)
			}
		}
	default:
		return "", nil, fmt.Errorf("class %q is neither SimpleStrategy nor NetworkTopologyStrategy", class)
	}
	factors := map[string]int{}
	for k, v := range kv {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > MaxReplicas {
			return "", nil, fmt.Errorf("replicas %q is not a number from 1 to %d", strings.TrimSpace(v), MaxReplicas)
		}
		factors[k] = n
	}
	return class, factors, nil
}

func unquote(s string) string { return strings.Trim(strings.TrimSpace(s), "'") }

// replicationMap is the CQL map of checked factors, data centres sorted.
func replicationMap(class string, factors map[string]int) string {
	if class == "SimpleStrategy" {
		return fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", factors[""])
	}
	var b strings.Builder
	b.WriteString("{'class': 'NetworkTopologyStrategy'")
	for _, dc := range slices.Sorted(maps.Keys(factors)) {
		fmt.Fprintf(&b, ", '%s': %d", dc, factors[dc])
	}
	b.WriteString("}")
	return b.String()
}
