// Package recovery measures how long tagstream takes to be serving again
// from its changelogs (issue 13, item 3), each against the time a bare
// franz-go consumer takes to read the same topics (BareRead):
//
//   - a new `tagstream api` recovering its views of a counts table of N
//     synthetic rows, until /readyz answers 200;
//   - a `tagstream worker` that processed P load-generator posts,
//     SIGTERMed and started again, with and without its --state-dir, until
//     the count of a post produced at the restart is in the counts table;
//   - `tagstream replay --from earliest` over those P posts.
//
// Every measurement runs in a fresh namespace of a real Kafka, deleted
// after, with the tagstream binary as its own process, whose CPU seconds
// and peak RSS are read from /proc.
package recovery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tagstream/tagstream/bench/harness"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/load"
	"github.com/tagstream/tagstream/topology"
)

// Options configures Run.
type Options struct {
	// Cluster is the real Kafka, as a principal that may create and
	// delete topics and groups (the processes get the same principal).
	Cluster kafka.Cluster
	// Tagstream is the binary (bin/tagstream).
	Tagstream string
	// Tables are the row counts of the counts tables the API recovers,
	// one measurement each; none skips the API.
	Tables []int
	// Posts processed by the worker before its restarts, and replayed;
	// 0 skips both. Seed is the load generator's.
	Posts int
	Seed  int64
	// NoReplay skips the replay after the worker's restarts.
	NoReplay bool
	// Dir holds each measurement's process logs and state.
	Dir string
	// Timeout bounds each wait: for the API's readiness, the worker's
	// first processing, a restart's probe, the replay. Default 30 minutes.
	Timeout time.Duration
	// Log receives progress lines.
	Log io.Writer
}

// Row is one measurement.
type Row struct {
	What string `json:"what"`
	// Size is what the row is about: rows of the counts table, or posts.
	Size int    `json:"size"`
	Unit string `json:"unit"`
	// Seconds from the process start until it served (or, for the
	// replay, exited); Records are the changelog or posts records it had
	// to read, RecordsPerSecond = Records / Seconds.
	Seconds          float64 `json:"seconds"`
	Records          int64   `json:"records"`
	RecordsPerSecond float64 `json:"records_per_second"`
	// BareSeconds is BareRead of the same topics, Ratio = Seconds /
	// BareSeconds: how many times slower than reading them is.
	BareSeconds float64 `json:"bare_read_seconds"`
	Ratio       float64 `json:"ratio"`
	// PeakRSSMiB (VmHWM) and CPUSeconds (user + system) of the process,
	// when it served.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// Preload is how long producing the measured topic took.
	Preload float64 `json:"preload_seconds,omitempty"`
	Note    string  `json:"note,omitempty"`
}

// Result is a run's rows and where they were taken.
type Result struct {
	Measured time.Time `json:"measured"`
	Cores    int       `json:"cores"`
	Commit   string    `json:"commit,omitempty"`
	Tables   []int     `json:"tables"`
	Posts    int       `json:"posts"`
	Seed     int64     `json:"seed"`
	Rows     []Row     `json:"rows"`
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// Run takes every measurement o asks for, in order: the API's, then the
// worker's restarts and the replay. It returns the rows taken so far with
// the first error.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	res := &Result{Measured: time.Now().UTC(), Tables: o.Tables, Posts: o.Posts, Seed: o.Seed}
	for _, n := range o.Tables {
		r, err := APIRecovery(ctx, o, n)
		if err != nil {
			return res, err
		}
		o.logRow(r)
		res.Rows = append(res.Rows, r)
	}
	if o.Posts > 0 {
		rows, err := WorkerRestart(ctx, o)
		for _, r := range rows {
			o.logRow(r)
		}
		res.Rows = append(res.Rows, rows...)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func (o Options) logRow(r Row) {
	fmt.Fprintf(o.Log, "%s, %d %s: %.1f s (%.0f records/s), bare read %.1f s, ratio %.1f, %.0f MiB, %.1f CPU s\n",
		r.What, r.Size, r.Unit, r.Seconds, r.RecordsPerSecond, r.BareSeconds, r.Ratio, r.PeakRSSMiB, r.CPUSeconds)
}

// namespace returns a fresh namespace and the function that deletes it,
// so that nothing of one measurement weighs on the next.
func (o Options) namespace(what string) (topology.Namespace, func()) {
	ns := topology.Namespace(fmt.Sprintf("rec%x-%s-", rand.Uint32(), what))
	return ns, func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := o.Cluster.DeletePrefixed(dctx, string(ns)); err != nil {
			fmt.Fprintf(o.Log, "delete %s: %v\n", ns, err)
		}
	}
}

func (o Options) dir(name string) (string, error) {
	d := filepath.Join(o.Dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("recovery: %w", err)
	}
	return d, nil
}

// common are the flags every tagstream process of ns gets.
func (o Options) common(ns topology.Namespace) []string {
	return []string{"--namespace", string(ns), "--brokers", strings.Join(o.Cluster.Brokers, ","),
		"--partitions", fmt.Sprint(o.Cluster.PartitionCount()), "--replication", fmt.Sprint(o.Cluster.ReplicationFactor())}
}

// apiSecret only has to be long enough: no token is minted.
const apiSecret = "recovery-benchmark-secret-of-32-bytes-at-least"

// APIRecovery times a new `tagstream api` recovering its views of a counts
// table of n rows (the top and recent tables and the trending partials
// left empty), from its start until /readyz answers 200; the page of the
// last row produced must then answer with that row's count.
func APIRecovery(ctx context.Context, o Options, n int) (Row, error) {
	o.defaults()
	row := Row{What: "api: new process recovers its views", Size: n, Unit: "rows",
		Note: "counts table only; top, recent and trending tables empty"}
	ns, drop := o.namespace("api")
	defer drop()
	if err := o.Cluster.EnsureTopics(ctx, ns.Gen(0).APITopics()); err != nil {
		return row, err
	}
	start := time.Now()
	if err := produceCounts(ctx, o.Cluster, ns, n); err != nil {
		return row, err
	}
	row.Preload = time.Since(start).Seconds()
	fmt.Fprintf(o.Log, "api %d rows: produced in %.1f s\n", n, row.Preload)
	read, bare, err := BareRead(ctx, o.Cluster, ns.Gen(0).Served()...)
	if err != nil {
		return row, err
	}
	if read != int64(n) {
		return row, fmt.Errorf("recovery: bare read found %d records in the served tables, produced %d", read, n)
	}
	row.BareSeconds, row.Records = bare.Seconds(), read
	dir, err := o.dir(fmt.Sprintf("api-%d", n))
	if err != nil {
		return row, err
	}
	p, err := harness.Start(o.Cluster, filepath.Join(dir, "api.log"), o.Tagstream,
		append([]string{"api", "--http", "127.0.0.1:0", "--secret", apiSecret}, o.common(ns)...)...)
	if err != nil {
		return row, err
	}
	defer p.Stop()
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	addr, ready, err := AwaitReady(wctx, p)
	if err != nil {
		return row, err
	}
	row.CPUSeconds, row.PeakRSSMiB, err = harness.Usage(p.Cmd.Process.Pid)
	if err != nil {
		return row, err
	}
	row.Seconds = ready.Sub(p.Start).Seconds()
	row.RecordsPerSecond = float64(row.Records) / row.Seconds
	row.Ratio = row.Seconds / row.BareSeconds
	// Ready must mean the whole table is there: the last row produced is
	// the one a view without all of it would most likely miss.
	if err := checkPage(wctx, addr, TableKey(n-1), int64((n-1)%1000+1)); err != nil {
		return row, err
	}
	return row, nil
}

// AwaitReady waits for the API process p to print its address, then polls
// its /readyz until it answers 200, and returns the address and when it
// did. It fails if p exits or ctx ends first.
func AwaitReady(ctx context.Context, p *harness.Proc) (string, time.Time, error) {
	var addr string
	for addr == "" {
		select {
		case line := <-p.Lines:
			if a, ok := strings.CutPrefix(line, "tagstream api listening on http://"); ok {
				addr = strings.TrimSpace(a)
			}
		case <-p.Exited:
			return "", time.Time{}, fmt.Errorf("recovery: api exited before listening (%v): see %s", p.Err, p.LogPath)
		case <-ctx.Done():
			return "", time.Time{}, fmt.Errorf("recovery: api not listening: %w; see %s", ctx.Err(), p.LogPath)
		}
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	// 50 ms between polls: fine enough against recoveries of seconds, and
	// 20 requests a second cost the process nothing it would notice.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			return addr, time.Time{}, fmt.Errorf("recovery: %w", err)
		}
		if resp, err := cl.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, time.Now(), nil
			}
		}
		select {
		case <-tick.C:
		case <-p.Exited:
			return addr, time.Time{}, fmt.Errorf("recovery: api exited before ready (%v): see %s", p.Err, p.LogPath)
		case <-ctx.Done():
			return addr, time.Time{}, fmt.Errorf("recovery: api not ready: %w; see %s", ctx.Err(), p.LogPath)
		}
	}
}

func checkPage(ctx context.Context, addr, key string, want int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/hashtags/"+key, nil)
	if err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("recovery: page of %s: %w", key, err)
	}
	defer resp.Body.Close()
	var page struct {
		PostCount int64 `json:"post_count"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("recovery: page of %s after ready: %s", key, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return fmt.Errorf("recovery: page of %s: %w", key, err)
	}
	if page.PostCount != want {
		return fmt.Errorf("recovery: page of %s after ready: count %d, want %d", key, page.PostCount, want)
	}
	return nil
}

// workerID is the worker's --instance-id, the same at every start: its
// static membership lets a restart take its partitions straight back.
const workerID = "bench-recovery"

// WorkerRestart has a worker (with a --state-dir) process o.Posts posts,
// SIGTERMs it and times two restarts, each until the count of one post
// produced right after the start is in the counts table: first with the
// same --state-dir (journals: only the changelogs' tails are read), then
// without (every changelog read whole). Unless o.NoReplay, it then times
// `tagstream replay --from earliest` over the posts, with the worker
// running to take the new generation over.
func WorkerRestart(ctx context.Context, o Options) ([]Row, error) {
	o.defaults()
	ns, drop := o.namespace("worker")
	defer drop()
	g := ns.Gen(0)
	if err := o.Cluster.EnsureTopics(ctx, g.Topics()); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := producePosts(ctx, o.Cluster, ns, o.Posts, o.Seed); err != nil {
		return nil, err
	}
	preload := time.Since(start).Seconds()
	dir, err := o.dir(fmt.Sprintf("worker-%d", o.Posts))
	if err != nil {
		return nil, err
	}
	state := filepath.Join(dir, "state")
	logPath := filepath.Join(dir, "worker.log")
	args := append([]string{"worker", "--instance-id", workerID}, o.common(ns)...)
	w, err := harness.Start(o.Cluster, logPath, o.Tagstream, append(args, "--state-dir", state)...)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	err = awaitProcessed(wctx, w, o.Cluster, g.WorkerGroups())
	cancel()
	if err != nil {
		w.Stop()
		return nil, err
	}
	fmt.Fprintf(o.Log, "worker: %d posts produced in %.1f s, processed %.1f s after its start\n", o.Posts, preload, time.Since(w.Start).Seconds())
	w.Stop()

	var rows []Row
	for i, v := range []struct {
		what  string
		extra []string
	}{
		{"worker: restart with --state-dir (journals)", []string{"--state-dir", state}},
		{"worker: restart without --state-dir", nil},
	} {
		row := Row{What: v.what, Size: o.Posts, Unit: "posts", Preload: preload,
			Note: "until a post produced at the restart is counted; records and bare read: the worker's four tables whole"}
		if v.extra != nil {
			row.Note += " (its journals spare it all but their tails)"
		}
		// Read while no worker runs, so that the baseline has the
		// machine to itself as the restart will.
		read, bare, err := BareRead(ctx, o.Cluster, g.ExtractorTable(), g.CountsTable(), g.TopTable(), g.RecentTable())
		if err != nil {
			return rows, err
		}
		row.Records, row.BareSeconds = read, bare.Seconds()
		w, err = restart(ctx, o, ns, logPath, append(clone(args), v.extra...), fmt.Sprintf("rprobe%c", 'a'+i), &row)
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
		if i == 0 {
			w.Stop()
		}
	}
	// w, the worker without state, keeps running: replay hands the new
	// generation over to it.
	defer w.Stop()
	if o.NoReplay {
		return rows, nil
	}
	row, err := replayRow(ctx, o, ns, dir)
	row.Preload = preload
	if err == nil {
		rows = append(rows, row)
	}
	return rows, err
}

func clone(s []string) []string { return append([]string(nil), s...) }

// restart starts the worker with args, produces the probe post at once
// and fills row with the time until its count is in the counts table. It
// returns the running worker.
func restart(ctx context.Context, o Options, ns topology.Namespace, logPath string, args []string, tag string, row *Row) (*harness.Proc, error) {
	table := ns.Gen(0).CountsTable()
	from, err := o.Cluster.Ends(ctx, table)
	if err != nil {
		return nil, err
	}
	w, err := harness.Start(o.Cluster, logPath, o.Tagstream, args...)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	pr := newProbe(tag)
	if err := produceProbe(wctx, o.Cluster, ns, pr); err != nil {
		w.Stop()
		return nil, err
	}
	// The watch runs beside a check of the worker, which may exit.
	type seen struct {
		at  time.Time
		err error
	}
	found := make(chan seen, 1)
	go func() {
		at, err := awaitKey(wctx, o.Cluster, table, from, pr.key)
		found <- seen{at, err}
	}()
	var s seen
	select {
	case s = <-found:
	case <-w.Exited:
		cancel()
		<-found
		return nil, fmt.Errorf("recovery: worker exited after its restart (%v): see %s", w.Err, w.LogPath)
	}
	if s.err != nil {
		w.Stop()
		return nil, fmt.Errorf("%w; see %s", s.err, w.LogPath)
	}
	row.Seconds = s.at.Sub(w.Start).Seconds()
	row.CPUSeconds, row.PeakRSSMiB, err = harness.Usage(w.Cmd.Process.Pid)
	if err != nil {
		w.Stop()
		return nil, err
	}
	row.RecordsPerSecond = float64(row.Records) / row.Seconds
	row.Ratio = row.Seconds / row.BareSeconds
	return w, nil
}

// awaitProcessed waits until groups have no lag, or fails when the worker
// exits first. Until the worker has joined them the groups do not exist
// and their lag is an error: that is retried until ctx ends.
func awaitProcessed(ctx context.Context, w *harness.Proc, c kafka.Cluster, groups []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		for {
			err := load.AwaitProcessed(ctx, c, groups, nil)
			if err == nil || ctx.Err() != nil {
				done <- err
				return
			}
			select {
			case <-ctx.Done():
				done <- fmt.Errorf("recovery: %w (last: %w)", ctx.Err(), err)
				return
			case <-time.After(time.Second):
			}
		}
	}()
	select {
	case err := <-done:
		return err
	case <-w.Exited:
		cancel()
		<-done
		return fmt.Errorf("recovery: worker exited before processing the posts (%v): see %s", w.Err, w.LogPath)
	}
}

// replayRow times `tagstream replay --from earliest --rank=false` from
// its start to its exit (the handover to the running worker included),
// against a bare read of the posts topic. --rank=false: the worker runs no
// ranking either, so both rebuild the same groups.
func replayRow(ctx context.Context, o Options, ns topology.Namespace, dir string) (Row, error) {
	row := Row{What: "replay --from earliest", Size: o.Posts, Unit: "posts",
		Note: "--rank=false; until it exits, handover to the running worker included"}
	read, bare, err := BareRead(ctx, o.Cluster, ns.Posts())
	if err != nil {
		return row, err
	}
	row.Records, row.BareSeconds = read, bare.Seconds()
	p, err := harness.Start(o.Cluster, filepath.Join(dir, "replay.log"), o.Tagstream,
		append([]string{"replay", "--from", "earliest", "--rank=false"}, o.common(ns)...)...)
	if err != nil {
		return row, err
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var caughtUp time.Time
	for done := false; !done; {
		select {
		case line := <-p.Lines:
			if caughtUp.IsZero() && strings.Contains(line, "caught up") {
				caughtUp = time.Now()
			}
		case <-p.Exited:
			done = true
		case <-wctx.Done():
			p.Stop()
			return row, fmt.Errorf("recovery: replay not done: %w; see %s", wctx.Err(), p.LogPath)
		}
	}
	end := time.Now()
	if p.Err != nil {
		return row, fmt.Errorf("recovery: replay: %w; see %s", p.Err, p.LogPath)
	}
	row.Seconds = end.Sub(p.Start).Seconds()
	row.CPUSeconds, row.PeakRSSMiB = p.ExitUsage()
	row.RecordsPerSecond = float64(row.Records) / row.Seconds
	row.Ratio = row.Seconds / row.BareSeconds
	if !caughtUp.IsZero() {
		row.Note += fmt.Sprintf("; caught up after %.1f s", caughtUp.Sub(p.Start).Seconds())
	}
	return row, nil
}
