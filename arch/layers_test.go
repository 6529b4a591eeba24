package arch

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tagstream/tagstream/"

// layers is ARCHITECTURE.md's table: a package may import only packages
// of a lower layer. A new package must be placed here before it builds
// into the test.
var layers = map[string]int{
	// 0: foundations, importing nothing of the module.
	"ids": 0, "hashtag": 0, "murmur2": 0, "metrics": 0, "journal": 0, "backoff": 0,
	"testenv": 0, "broker": 0, "cors": 0, "datadriven": 0, "logbuf": 0,
	"docker": 0, "docker/healthprobe": 0, "site": 0, "services": 0, "services/probe": 0, "arch": 0, "bench/chart": 0,
	// 1: the records on the wire and the identities.
	"events": 1, "token": 1, "kafka": 1, "tablestore": 1, "config": 1, "media": 1, "edge": 1,
	// 2: the contract with Kafka and the page model.
	"topology": 2, "page": 2, "demo": 2, "media/imgbench": 2, "kafka/gokaopts": 2, "bench/harness": 2,
	// 3: the stages and the read side.
	"processors": 3, "views": 3, "emitters": 3, "snapshot": 3, "load": 3, "api": 3, "kafka/kafkatest": 3, "deadletters": 3, "backup": 3,
	// 4: what runs stages as a whole.
	"replay": 4, "chaos": 4, "bench/throughput": 4, "bench/readpath": 4, "bench/recovery": 4,
	// 5: processes.
	"pipeline": 5, "bench/cmd/bench": 5,
	// 6: the command, which only wires flags to packages; a whole run
	// inside a test.
	"cmd/tagstream": 6, "pipeline/runtest": 6,
	// 7: end-to-end tests with something real in front of a run.
	"site/browser": 7, "edge/varnish": 7, "api/contract": 7,
}

// Every package imports only packages of lower layers, so the layers of
// ARCHITECTURE.md hold: kafka/kafkatest once imported processors, the
// Cassandra reader pulled in goka through views.
func TestImportsGoDownTheLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, module)
		layer, ok := layers[name]
		if !ok {
			t.Errorf("package %s has no layer: place it in arch/layers_test.go and ARCHITECTURE.md", name)
			continue
		}
		seen++
		for _, imp := range p.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if l, ok := layers[dep]; ok && l >= layer {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must go down", name, layer, dep, l)
			}
		}
	}
	if seen < 20 {
		t.Fatalf("only %d packages listed: go list did not see the module", seen)
	}
}
