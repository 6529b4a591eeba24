package varnish

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/testenv"
)

// varnishd is an edge this test started: varnishd in the foreground with
// tagstream.vcl and a site.vcl of the test's (the backend, the purgers).
type varnishd struct {
	url      string // the readers' listener: http://127.0.0.1:port
	purgeURL string // the purge listener, as compose has it
	dir      string // its -n working directory: varnishstat and varnishadm
}

// binary finds varnishd: TAGSTREAM_VARNISHD, or on the PATH or in
// /usr/sbin (make test installs it through services/varnish.sh).
func binary(t *testing.T, name string) string {
	if p := os.Getenv("TAGSTREAM_VARNISHD"); p != "" && name == "varnishd" {
		return p
	}
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if found, err := exec.LookPath(p); err == nil {
			return found
		}
	}
	testenv.Skip(t, "no "+name+": run services/varnish.sh ensure")
	return ""
}

// freePort returns a loopback port nothing listens on now
// (testenv.FreeAddr), for a process that must know another's address
// before that one starts.
func freePort(t *testing.T) int {
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startVarnish starts an edge in front of 127.0.0.1:backendPort until the
// test ends, set up as compose's docker/varnish/site.vcl sets it up: PURGE
// only on a listener of its own, and only from 127.0.0.1; the probe asks
// /readyz every 500 ms, and two failures of three mark the origin sick.
func startVarnish(t *testing.T, backendPort int) *varnishd {
	exe := binary(t, "varnishd")
	dir := t.TempDir()
	site := fmt.Sprintf(`backend default {
	.host = "127.0.0.1";
	.port = "%d";
	.connect_timeout = 1s;
	.first_byte_timeout = 10s;
	.probe = { .url = "/readyz"; .interval = 500ms; .timeout = 500ms; .window = 3; .threshold = 2; .initial = 2; }
}
acl purgers { "127.0.0.1"; }
sub vcl_recv {
	if (req.method == "PURGE" && local.socket != "purge") {
		return (synth(403, "purge is not allowed on this listener"));
	}
}
`, backendPort)
	if err := os.WriteFile(filepath.Join(dir, "site.vcl"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	vcl, err := filepath.Abs("../../docker/varnish")
	if err != nil {
		t.Fatal(err)
	}
	port, purgePort := freePort(t), freePort(t)
	work := filepath.Join(dir, "n")
	ctx, cancel := context.WithCancel(context.Background())
	// -j none: as root, varnishd would otherwise switch to the varnish
	// user, which cannot read the test's temp dir.
	cmd := exec.CommandContext(ctx, exe, "-F", "-j", "none", "-n", work, "-a", "http=127.0.0.1:"+strconv.Itoa(port), "-a", "purge=127.0.0.1:"+strconv.Itoa(purgePort),
		"-T", "127.0.0.1:0", "-p", "vcl_path="+dir+":"+vcl, "-f", filepath.Join(vcl, "tagstream.vcl"), "-s", "malloc,64m")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start varnishd: %v", err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("varnishd's output:\n%s", out.String())
		}
	})
	v := &varnishd{url: "http://127.0.0.1:" + strconv.Itoa(port), purgeURL: "http://127.0.0.1:" + strconv.Itoa(purgePort), dir: work}
	testenv.Await(t, 30*time.Second, "varnishd answering", func() bool {
		select {
		case <-exited:
			t.Fatalf("varnishd exited: %v", exitErr)
		default:
		}
		resp, err := http.Get(v.url + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return v
}

// stats returns varnishstat's counters by name (MAIN.cache_hit...).
func (v *varnishd) stats(t *testing.T) map[string]int64 {
	t.Helper()
	out, err := exec.Command(binary(t, "varnishstat"), "-n", v.dir, "-1", "-j").Output()
	if err != nil {
		t.Fatalf("varnishstat: %v", err)
	}
	var doc struct {
		Counters map[string]struct {
			Value uint64 `json:"value"` // some are bitmaps: all 64 bits
		} `json:"counters"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("varnishstat -j: %v", err)
	}
	m := make(map[string]int64, len(doc.Counters))
	for k, c := range doc.Counters {
		m[k] = int64(c.Value)
	}
	return m
}

// originSick reports whether the edge's probe has marked the origin sick.
func (v *varnishd) originSick(t *testing.T) bool {
	out, err := exec.Command(binary(t, "varnishadm"), "-n", v.dir, "backend.list").CombinedOutput()
	if err != nil {
		t.Fatalf("varnishadm backend.list: %v: %s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && strings.HasSuffix(f[0], "default") {
			return strings.Contains(sc.Text(), "sick")
		}
	}
	t.Fatalf("no backend default in:\n%s", out)
	return false
}
