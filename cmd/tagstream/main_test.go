package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/token"
	"github.com/tagstream/tagstream/topology"
)

// TestMain lets a test start this test binary as the tagstream command, so
// that it can be killed with SIGKILL like the real binary.
func TestMain(m *testing.M) {
	if os.Getenv("TAGSTREAM_TEST_AS_COMMAND") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestHashtagsCommand(t *testing.T) {
	in := strings.Join([]string{
		`"Golden hour #Sunset at the #beach #sunset"`,
		`"no tags here"`,
		`42`,
		`"＃Ｔｏｋｙｏ and #東京"`,
	}, "\n")
	var out, errw bytes.Buffer
	err := hashtagLines(context.Background(), strings.NewReader(in), &out, &errw, false)
	want := "[\"Sunset\",\"beach\",\"sunset\"]\n[]\nnull\n[\"Ｔｏｋｙｏ\",\"東京\"]\n"
	if out.String() != want {
		t.Errorf("as written:\n%s\nwant\n%s", out.String(), want)
	}
	if err == nil || !strings.Contains(errw.String(), "line 3") {
		t.Errorf("bad line 3 not reported: err %v, stderr %q", err, errw.String())
	}
	out.Reset()
	hashtagLines(context.Background(), strings.NewReader(in), &out, io.Discard, true)
	want = "[\"sunset\",\"beach\"]\n[]\nnull\n[\"tokyo\",\"東京\"]\n"
	if out.String() != want {
		t.Errorf("--keys:\n%s\nwant\n%s", out.String(), want)
	}
}

func TestTokenCommand(t *testing.T) {
	secret := strings.Repeat("z", token.MinSecretLen)
	var out bytes.Buffer
	if err := dispatch(context.Background(), []string{"token", "--user", "alice", "--secret", secret}, nil, &out); err != nil {
		t.Fatal(err)
	}
	user, err := token.Verify([]byte(secret), strings.TrimSpace(out.String()), 0)
	if err != nil || user != "alice" {
		t.Fatalf("minted token verifies as %q, %v", user, err)
	}
	// The secret from a file, as a Docker secret mounts it.
	file := filepath.Join(t.TempDir(), "tagstream_secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := dispatch(context.Background(), []string{"token", "--user", "bob", "--secret-file", file}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if user, err := token.Verify([]byte(secret), strings.TrimSpace(out.String()), 0); err != nil || user != "bob" {
		t.Fatalf("token minted with --secret-file verifies as %q, %v", user, err)
	}
	// Tokens no API would accept are not minted.
	for _, args := range [][]string{
		{"token", "--secret", secret},
		{"token", "--secret", secret, "--user", ".."},
		{"token", "--secret", secret, "--user", strings.Repeat("u", 300)},
		{"token", "--secret", secret, "--user", "alice", "--ttl", "876000h"},
		{"token", "--secret", secret, "--user", "alice", "--ttl", "-1h"},
		{"token", "--secret", secret, "--user", "alice", "--ttl", "2h", "--token-max-ttl", "1h"},
	} {
		if err := dispatch(context.Background(), args, nil, io.Discard); err == nil {
			t.Errorf("%v succeeded", args[1:])
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

type proc struct {
	*command
	http   string
	broker string
}

func startRun(t *testing.T, data, httpAddr, kafkaAddr string) *proc {
	t.Helper()
	c := launch(t, "tagstream run", "run", "--data", data, "--http", httpAddr, "--kafka-listen", kafkaAddr, "--partitions", "3")
	awaitReady(t, httpAddr, c)
	return &proc{command: c, http: httpAddr, broker: kafkaAddr}
}

// awaitReady waits until the API of process c at addr answers /readyz.
func awaitReady(t *testing.T, addr string, c *command) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 90 s; its output:\n%s", c.name, c.out.String())
		}
	}
}

func count(addr, tag string) int64 {
	resp, err := http.Get("http://" + addr + "/v1/hashtags/" + tag)
	if err != nil {
		return -2
	}
	defer resp.Body.Close()
	var p struct {
		PostCount int64 `json:"post_count"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&p) != nil {
		return -1
	}
	return p.PostCount
}

func awaitCount(t *testing.T, p *proc, tag string, want int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var got int64
	for time.Now().Before(deadline) {
		if got = count(p.http, tag); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("#%s: count %d, want %d; output:\n%s", tag, got, want, p.out.String())
}

func produce(t *testing.T, brokers string, from, to int, caption string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		user := fmt.Sprintf("u%d", i%5)
		v, _ := json.Marshal(events.PostEvent{Type: events.PostCreated, PostID: fmt.Sprintf("p%d", i), UserID: user, Caption: caption})
		recs = append(recs, &kgo.Record{Topic: topology.Namespace("").Posts(), Key: []byte(user), Value: v})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func awaitNoLag(t *testing.T, brokers string) {
	t.Helper()
	c := kafka.Cluster{Brokers: []string{brokers}}
	groups := []string{topology.Gen{}.Extractor(), topology.Gen{}.Counts(), topology.Gen{}.Top()}
	var lag int64
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if lag, err = c.Lag(context.Background(), groups...); err == nil && lag == 0 {
			return
		}
	}
	t.Fatalf("groups still lag by %d records (err %v)", lag, err)
}

// `tagstream run` killed with SIGKILL and started again on the same --data
// keeps every count, and new posts keep counting.
func TestRunSurvivesSIGKILL(t *testing.T) {
	data := t.TempDir()
	httpAddr, kafkaAddr := freeAddr(t), freeAddr(t)
	p := startRun(t, data, httpAddr, kafkaAddr)
	if !strings.Contains(p.out.String(), "demo bearer token") || !strings.Contains(p.out.String(), kafkaAddr) {
		t.Errorf("banner lacks the broker address or demo token:\n%s", p.out.String())
	}
	produce(t, kafkaAddr, 0, 300, "killed #Survivor #crash")
	awaitCount(t, p, "survivor", 300)
	// Kill once every offset is committed: a kill mid-processing replays
	// uncommitted input, which goka counts again (at-least-once); exact
	// counts under crashes are a separate, later guarantee.
	awaitNoLag(t, kafkaAddr)

	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()

	p = startRun(t, data, httpAddr, kafkaAddr)
	if got := count(httpAddr, "survivor"); got != 300 {
		t.Fatalf("after SIGKILL and restart #survivor counts %d, want 300; output:\n%s", got, p.out.String())
	}
	produce(t, kafkaAddr, 300, 400, "after #survivor")
	awaitCount(t, p, "survivor", 400)
	awaitCount(t, p, "crash", 300)
}

type topPage struct {
	PostCount int64 `json:"post_count"`
	TopPosts  []struct {
		PostID   string `json:"post_id"`
		ImageURL string `json:"image_url"`
	} `json:"top_posts"`
}

// `tagstream emit top-posts` publishes valid documents keyed by their
// normalised hashtag and reports, skips and counts the bad ones.
func TestEmitTopPosts(t *testing.T) {
	p := startRun(t, t.TempDir(), freeAddr(t), freeAddr(t))
	var posts []string
	for i := range 101 {
		posts = append(posts, fmt.Sprintf(`{"post_id":"p%d","user_id":"u"}`, i))
	}
	in := strings.Join([]string{
		`{"hashtag":"#Sunset","computed_at":"2026-11-27T10:00:00Z","posts":[{"post_id":"p1","user_id":"alice","image_id":"i1","caption":"gold"}]}`,
		`{"hashtag":"#broken",`,
		`{"hashtag":"#toolong","computed_at":"2026-11-27T10:00:00Z","posts":[` + strings.Join(posts, ",") + `]}`,
		`{"hashtag":"#nodate","posts":[]}`,
	}, "\n")
	var errw bytes.Buffer
	err := emitTopPosts(context.Background(), kafka.Cluster{Brokers: []string{p.broker}, Partitions: 3}, "", strings.NewReader(in), &errw)
	if err == nil || err.Error() != "3 bad input line(s), reported above" {
		t.Fatalf("err = %v; stderr:\n%s", err, errw.String())
	}
	for _, want := range []string{"line 2:", "line 3: events: invalid_field: 101 posts", "line 4: events: missing_field: computed_at", "published 1"} {
		if !strings.Contains(errw.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errw.String())
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.http + "/v1/hashtags/SUNSET")
		if err == nil && resp.StatusCode == 200 {
			var pg topPage
			json.NewDecoder(resp.Body).Decode(&pg)
			resp.Body.Close()
			if len(pg.TopPosts) != 1 || pg.TopPosts[0].PostID != "p1" || pg.PostCount != 0 {
				t.Fatalf("page %+v", pg)
			}
			return
		}
		if resp != nil {
			resp.Body.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("top posts of #sunset never served")
}

// Everything `tagstream run` writes under --data is its user's alone: the
// token secret, the image keys, the broker's log, the photos. The
// embedded broker wrote its log files 0644 and the data dir was 0755.
func TestRunKeepsItsDataPrivate(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	httpAddr, kafkaAddr := freeAddr(t), freeAddr(t)
	p := startRun(t, data, httpAddr, kafkaAddr)
	produce(t, kafkaAddr, 0, 20, "private #files")
	awaitCount(t, p, "files", 20)
	n := 0
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %#o: others can read it", path, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d entries under %s: the run wrote nothing to check", n, data)
	}
}

// `tagstream hashtags` reading a pipe that stays open stops on SIGTERM
// (its context) after answering what it read, instead of waiting for
// input forever.
func TestHashtagsStopsWhileReadingStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- hashtagLines(ctx, r, &out, io.Discard, true) }()
	if _, err := w.WriteString("\"#one\"\n"); err != nil {
		t.Fatal(err)
	}
	testenv.Await(t, 10*time.Second, "the first line answered", func() bool { return strings.Contains(out.String(), `["one"]`) })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("hashtags ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hashtags still reading stdin 10 s after its context ended")
	}
}

// Every command's -h starts with what it is for, what it reads and
// writes, and an example, then lists its flags; --version names the
// build.
func TestHelpAndVersion(t *testing.T) {
	for cmd := range helps {
		var out bytes.Buffer
		args := append(strings.Fields(cmd), "-h")
		fs := withHelp(flag.NewFlagSet("tagstream "+cmd, flag.ContinueOnError))
		fs.SetOutput(&out)
		fs.String("example-flag", "", "a flag")
		if err := fs.Parse(args[len(args)-1:]); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s -h: %v", cmd, err)
		}
		h := helps[cmd]
		s := out.String()
		if !strings.HasPrefix(s, "tagstream "+cmd+": "+h.purpose) || !strings.Contains(s, "example:\n  "+h.example) || !strings.Contains(s, "-example-flag") {
			t.Errorf("%s -h:\n%s", cmd, s)
		}
	}
	// Every command dispatch knows has its help.
	for _, line := range strings.Split(usage, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(line, "  ") && f[0] != "emit" {
			if _, ok := helps[f[0]]; !ok {
				t.Errorf("command %q has no help", f[0])
			}
		}
	}
	var out bytes.Buffer
	if err := dispatch(context.Background(), []string{"--version"}, nil, &out); err != nil || !strings.HasPrefix(out.String(), "tagstream ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("--version: %q, %v", out.String(), err)
	}
}

// --log-format json writes one JSON object per line, and a serving
// command logs its start (with its version) and its stop (with why).
func TestLogFormatAndStartStop(t *testing.T) {
	var buf bytes.Buffer
	prevOut, prevLog := logOutput, slog.Default()
	logOutput = &buf
	defer func() { logOutput = prevOut; slog.SetDefault(prevLog) }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stops at once: the test is about the lines around it
	dispatch(ctx, []string{"worker", "--log-format", "json", "--brokers", "127.0.0.1:1"}, nil, io.Discard)
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		msgs = append(msgs, fmt.Sprint(m["msg"]))
		if m["msg"] == "starting" && (m["command"] != "tagstream worker" || m["version"] == nil) {
			t.Errorf("start line %v", m)
		}
	}
	if len(msgs) < 2 || msgs[0] != "starting" || msgs[len(msgs)-1] != "stopped" {
		t.Errorf("log lines %v: want starting first and stopped last", msgs)
	}
	// With the profiler and the metrics listener on too, the log buffer
	// is still flushed when the command ends.
	buf.Reset()
	dispatch(ctx, []string{"worker", "--brokers", "127.0.0.1:1", "--pprof", "127.0.0.1:0", "--metrics", "127.0.0.1:0"}, nil, io.Discard)
	if !strings.Contains(buf.String(), "msg=stopped") {
		t.Errorf("with --pprof and --metrics, the stop line was never written:\n%s", buf.String())
	}
	if err := dispatch(ctx, []string{"worker", "--log-format", "yaml"}, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "log-format") {
		t.Errorf("--log-format yaml: %v", err)
	}
}

// purge says what is missing, and fails when no edge answers: a takedown
// must never look done.
func TestPurgeCommandFailsLoudly(t *testing.T) {
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"purge", "#spam"}, "needs --edge-purge"},
		{[]string{"purge", "--edge-purge", "http://127.0.0.1:9"}, "no target"},
		{[]string{"purge", "--edge-purge", "http://127.0.0.1:9", "spam"}, "no purge target"},
		{[]string{"purge", "--edge-purge", "http://127.0.0.1:9", "--hard", "#spam"}, "127.0.0.1:9"},
		{[]string{"purge", "--edge-purge", "varnish:6082", "#spam"}, "not an http(s) URL"},
	} {
		var out bytes.Buffer
		err := dispatch(context.Background(), c.args, nil, &out)
		if err == nil || !strings.Contains(err.Error(), c.err) || out.Len() != 0 {
			t.Errorf("%q: %v, output %q; want an error containing %q and no output", c.args, err, out.String(), c.err)
		}
	}
}
