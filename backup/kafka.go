package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// Options configures a backup or a restore.
type Options struct {
	Cluster kafka.Cluster
	// Namespace is the deployment read from (backup) or written to
	// (restore); default none.
	Namespace topology.Namespace
	// Dir is the backup's folder. Backup makes it (it must not exist, or
	// be empty); restore reads it.
	Dir string
	// Progress receives a line every Every (default 5s) and a last one.
	Progress io.Writer
	Every    time.Duration
	// Stall fails a backup or restore that has read or written no record
	// for this long (default 2m): a partition stuck behind a transaction
	// that never ends, a broker that stopped answering.
	Stall time.Duration
}

// adminTimeout bounds each metadata or offsets request.
const adminTimeout = 30 * time.Second

// Result says what a backup or a restore did.
type Result struct {
	Manifest *Manifest
	Bytes    int64
	Took     time.Duration
}

func (o *Options) defaults() {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Every <= 0 {
		o.Every = 5 * time.Second
	}
	if o.Stall <= 0 {
		o.Stall = 2 * time.Minute
	}
}

// watch reports progress every o.Every and cancels the returned context
// with a stall error once *done has not moved for o.Stall. stop ends it
// and waits for its goroutine.
func (o Options) watch(ctx context.Context, what string, done *atomic.Int64, of int64) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(o.Every)
		defer t.Stop()
		last, since := done.Load(), time.Now()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			n := done.Load()
			if n != last {
				last, since = n, time.Now()
			} else if time.Since(since) >= o.Stall {
				cancel(fmt.Errorf("%s: no progress for %s at %d records", what, o.Stall, n))
				return
			}
			if of > 0 {
				fmt.Fprintf(o.Progress, "%s: %d of %d records\n", what, n, of)
			} else {
				fmt.Fprintf(o.Progress, "%s: %d records\n", what, n)
			}
		}
	}()
	return ctx, func() { close(quit); <-exited; cancel(nil) }
}

func (o Options) topic(name string) string {
	if name == "likes" {
		return o.Namespace.Likes()
	}
	return o.Namespace.Posts()
}

// Take copies posts and likes, every committed record up to their ends at
// the start, into o.Dir. The deployment keeps running: records written
// during the backup are in the next one.
func Take(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	started := time.Now()
	if err := emptyDir(o.Dir); err != nil {
		return nil, err
	}
	spans, err := bounds(ctx, o)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Format: Format, Taken: started.UTC().Truncate(time.Millisecond), Namespace: string(o.Namespace)}
	res := &Result{Manifest: m}
	err = func() error {
		for _, name := range Logs {
			t, n, err := takeTopic(ctx, o, name, spans[name])
			if err != nil {
				return err
			}
			m.Topics = append(m.Topics, t)
			res.Bytes += n
		}
		return writeManifest(o.Dir, m)
	}()
	if err != nil {
		// A failed backup leaves the folder as it found it, empty, so
		// that the next attempt can use it.
		if entries, rerr := os.ReadDir(o.Dir); rerr == nil {
			for _, e := range entries {
				os.Remove(filepath.Join(o.Dir, e.Name()))
			}
		}
		return nil, err
	}
	res.Took = time.Since(started)
	fmt.Fprintf(o.Progress, "backup: %d records of posts and likes, %d bytes, in %s, into %s\n",
		m.Records(), res.Bytes, res.Took.Round(time.Millisecond), o.Dir)
	return res, nil
}

// emptyDir makes dir, or accepts it if it exists and is empty: a backup
// never mixes its files with another's.
func emptyDir(dir string) error {
	if dir == "" {
		return errors.New("backup: no folder given (--backup-dir)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if len(names) > 0 {
		return fmt.Errorf("backup: %s is not empty: a backup goes into a new folder", dir)
	}
	return nil
}

// bounds returns the spans to copy: each partition from its first offset
// to its last stable offset (committed transactions only). likes' ends are
// listed before posts', so a like in the backup whose post was written
// before it (as a client that liked what it saw did) finds its post there
// too. (The extractor copes with any order: a like of a post it has not
// seen waits for it, topology.md.)
func bounds(ctx context.Context, o Options) (map[string]kafka.Spans, error) {
	cl, err := o.Cluster.Client("backup")
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	out := map[string]kafka.Spans{}
	for _, name := range []string{"likes", "posts"} {
		topic := o.topic(name)
		ends, err := kafka.Listed(adm.ListCommittedOffsets(ctx, topic))
		if err != nil {
			return nil, fmt.Errorf("backup: ends of %s: %w", topic, err)
		}
		starts, err := kafka.Listed(adm.ListStartOffsets(ctx, topic))
		if err != nil {
			return nil, fmt.Errorf("backup: starts of %s: %w", topic, err)
		}
		spans := map[int32]kafka.Span{}
		for p, end := range ends {
			spans[p] = kafka.Span{From: starts[p], To: end}
		}
		out[name] = kafka.Spans{topic: spans}
	}
	if len(out["posts"][o.topic("posts")]) != len(out["likes"][o.topic("likes")]) {
		return nil, fmt.Errorf("backup: posts has %d partitions and likes %d: not a tagstream deployment",
			len(out["posts"][o.topic("posts")]), len(out["likes"][o.topic("likes")]))
	}
	return out, nil
}

// takeTopic reads one topic's spans into one file per partition.
func takeTopic(ctx context.Context, o Options, name string, spans kafka.Spans) (Topic, int64, error) {
	topic := o.topic(name)
	parts := spans[topic]
	t := Topic{Name: name, Partitions: make([]Partition, len(parts))}
	writers := make([]*writer, len(parts))
	defer func() {
		for _, w := range writers {
			if w != nil {
				w.f.Close()
			}
		}
	}()
	for p := range int32(len(parts)) {
		s, ok := parts[p]
		if !ok {
			return t, 0, fmt.Errorf("backup: %s has no partition %d of %d", topic, p, len(parts))
		}
		t.Partitions[p] = Partition{Partition: p, From: s.From, To: s.To, File: fmt.Sprintf("%s-%d.records", name, p)}
		w, err := newWriter(filepath.Join(o.Dir, t.Partitions[p].File))
		if err != nil {
			return t, 0, err
		}
		writers[p] = w
	}
	var werr error
	var read atomic.Int64
	wctx, stop := o.watch(ctx, "backup: "+name, &read, 0)
	err := o.Cluster.ReadSpans(wctx, spans, true, func(r *kgo.Record) {
		if werr == nil {
			werr = writers[r.Partition].add(r)
		}
		read.Add(1)
	})
	stop()
	if cause := context.Cause(wctx); err != nil && cause != nil && ctx.Err() == nil {
		err = cause
	}
	if err == nil {
		err = werr
	}
	if err != nil {
		return t, 0, fmt.Errorf("backup: read %s: %w", topic, err)
	}
	var total int64
	for p, w := range writers {
		n, sum, err := w.close()
		writers[p] = nil
		if err != nil {
			return t, 0, err
		}
		t.Partitions[p].Records, t.Partitions[p].Bytes, t.Partitions[p].SHA256 = w.records, n, sum
		total += n
	}
	return t, total, nil
}

// writeManifest writes the manifest last, through a rename, and syncs the
// folder: its presence means every file before it is on disk.
func writeManifest(dir string, m *Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := filepath.Join(dir, ManifestName+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, ManifestName))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("backup: manifest: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Verify reads every file of the backup in dir and checks it against the
// manifest: size, SHA-256, and that its records parse, number what the
// manifest says and have increasing offsets within its span. It returns the
// manifest and the bytes read.
func Verify(dir string) (*Manifest, int64, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, 0, err
	}
	size, err := verify(dir, m)
	return m, size, err
}

func verify(dir string, m *Manifest) (int64, error) {
	var total int64
	for _, t := range m.Topics {
		for _, p := range t.Partitions {
			if err := eachRecord(dir, p, func(*Record) error { return nil }); err != nil {
				return 0, err
			}
			total += p.Bytes
		}
	}
	return total, nil
}

// regular opens path if it is a regular file, not a FIFO that would block
// the open, a device, or a symbolic link out of the backup's folder.
func regular(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file (%s)", ErrCorrupt, filepath.Base(path), fi.Mode().Type())
	}
	return os.Open(path)
}

// eachRecord reads p's file, calls fn with each record, and checks the
// file against p once it has been read whole.
func eachRecord(dir string, p Partition, fn func(*Record) error) error {
	f, err := regular(filepath.Join(dir, p.File))
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	} else if fi.Size() != p.Bytes {
		return fmt.Errorf("%w: %s is %d bytes long, the manifest says %d", ErrCorrupt, p.File, fi.Size(), p.Bytes)
	}
	h := newHashWriter()
	rd, err := newReader(io.TeeReader(io.LimitReader(f, p.Bytes), h), p.File)
	if err != nil {
		return err
	}
	var n int64
	prev := p.From - 1
	for {
		r, err := rd.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch n++; {
		case n > p.Records:
			return fmt.Errorf("%w: %s holds more than the %d records of the manifest", ErrCorrupt, p.File, p.Records)
		case r.Offset <= prev || r.Offset >= p.To:
			return fmt.Errorf("%w: %s: offset %d after %d, outside the manifest's %d..%d or out of order", ErrCorrupt, p.File, r.Offset, prev, p.From, p.To)
		case r.Timestamp.UnixMilli() < 0:
			return fmt.Errorf("%w: %s: offset %d has the timestamp %d, before 1970", ErrCorrupt, p.File, r.Offset, r.Timestamp.UnixMilli())
		}
		prev = r.Offset
		if err := fn(r); err != nil {
			return err
		}
	}
	switch {
	case h.n != p.Bytes:
		return fmt.Errorf("%w: %s is %d bytes long, the manifest says %d", ErrCorrupt, p.File, h.n, p.Bytes)
	case h.sum() != p.SHA256:
		return fmt.Errorf("%w: %s's SHA-256 differs from the manifest's", ErrCorrupt, p.File)
	case n != p.Records:
		return fmt.Errorf("%w: %s holds %d records, the manifest says %d", ErrCorrupt, p.File, n, p.Records)
	}
	return nil
}

// ErrPartial is wrapped by a restore's error once it has written records:
// the target's posts and likes then hold part of the backup.
var ErrPartial = errors.New("restore: the target holds part of the backup")

// Restore writes the backup in o.Dir into o.Namespace's posts and likes of
// o.Cluster, after checking, in order of cost, that the partition count
// matches, that the namespace is new (no topic of it but empty posts and
// likes), that the cluster can keep the logs as the source of truth needs
// (replication, retention), and that every file matches the manifest. The
// workers started on the cluster then rebuild everything else from them.
func Restore(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	started := time.Now()
	m, err := ReadManifest(o.Dir)
	if err != nil {
		return nil, err
	}
	parts := len(m.Topics[0].Partitions)
	if parts != o.Cluster.PartitionCount() {
		return nil, fmt.Errorf("restore: the backup's topics have %d partitions, this cluster's tagstream %d: run with --partitions %d",
			parts, o.Cluster.PartitionCount(), parts)
	}
	if err := checkTarget(ctx, o); err != nil {
		return nil, err
	}
	size, err := verify(o.Dir, m)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Progress, "restore: backup of %s verified: %d records, %d bytes\n", m.Taken.Format(time.RFC3339), m.Records(), size)
	if err := createTopics(ctx, o); err != nil {
		return nil, err
	}
	if err := write(ctx, o, m); err != nil {
		return nil, fmt.Errorf("%w (%s and %s): delete both topics and run the restore again: %w", ErrPartial, o.topic("posts"), o.topic("likes"), err)
	}
	res := &Result{Manifest: m, Bytes: size, Took: time.Since(started)}
	fmt.Fprintf(o.Progress, "restore: %d records into %s and %s in %s; start the workers to rebuild the state\n",
		m.Records(), o.topic("posts"), o.topic("likes"), res.Took.Round(time.Millisecond))
	return res, nil
}

// write produces every record of the backup into its partition. The
// idempotent producer keeps each partition's order through retries, and
// fails every later record of a partition after one fails, so a failed
// restore leaves a prefix of each partition, never a gap.
func write(ctx context.Context, o Options, m *Manifest) error {
	// No kgo.RecordDeliveryTimeout: franz-go measures it from the
	// record's timestamp, which here is the original, old one, so every
	// record would time out at once. The watch below bounds a stall.
	cl, err := o.Cluster.Client("restore", kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedBytes(64<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	var (
		mu      sync.Mutex
		perr    error
		written atomic.Int64
	)
	failed := func() error { mu.Lock(); defer mu.Unlock(); return perr }
	wctx, stop := o.watch(ctx, "restore", &written, m.Records())
	defer stop()
	for _, t := range m.Topics {
		topic := o.topic(t.Name)
		for _, p := range t.Partitions {
			err := eachRecord(o.Dir, p, func(r *Record) error {
				if err := failed(); err != nil {
					return err
				}
				rec := &kgo.Record{Topic: topic, Partition: p.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}
				cl.Produce(wctx, rec, func(_ *kgo.Record, err error) {
					if err != nil {
						mu.Lock()
						if perr == nil {
							perr = fmt.Errorf("write %s/%d: %w", topic, p.Partition, err)
						}
						mu.Unlock()
						return
					}
					written.Add(1)
				})
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	if err := cl.Flush(wctx); err != nil {
		if cause := context.Cause(wctx); cause != nil && ctx.Err() == nil {
			err = cause
		}
		return err
	}
	return failed()
}

// checkTarget refuses a namespace that is not new: any topic of its
// generation 0 or its generation pointer (the workers would build on
// their old state and count twice), or posts and likes holding records (a
// restore into a live deployment), and a replication factor under what
// the cluster allows, up to 3: posts and likes are the one copy of the
// source of truth.
func checkTarget(ctx context.Context, o Options) error {
	cl, err := o.Cluster.Client("restore-check")
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("restore: brokers of %v: %w", o.Cluster.Brokers, err)
	}
	if want := min(3, len(brokers)); o.Cluster.ReplicationFactor() < want {
		return fmt.Errorf("restore: the cluster has %d brokers and posts and likes are the only copy of the source of truth: run with --replication %d",
			len(brokers), want)
	}
	names := append(o.Namespace.Gen(0).TopicNames(), o.Namespace.Pointer())
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("restore: list topics: %w", err)
	}
	for _, name := range names {
		d, ok := details[name]
		if !ok || d.Err != nil {
			continue
		}
		if name != o.topic("posts") && name != o.topic("likes") {
			return fmt.Errorf("restore: %s exists: restore into a new cluster or namespace, whose workers build every table from the restored logs", name)
		}
		if rf := d.Partitions.NumReplicas(); rf < o.Cluster.ReplicationFactor() {
			return fmt.Errorf("restore: %s exists with replication factor %d, under --replication %d: delete it, or create it with %d", name, rf, o.Cluster.ReplicationFactor(), o.Cluster.ReplicationFactor())
		}
		starts, err := kafka.Listed(adm.ListStartOffsets(ctx, name))
		if err == nil {
			var ends map[int32]int64
			if ends, err = kafka.Listed(adm.ListEndOffsets(ctx, name)); err == nil {
				for _, p := range slices.Sorted(maps.Keys(ends)) {
					if ends[p] > starts[p] {
						return fmt.Errorf("restore: %s already holds records (partition %d, offsets %d..%d): restore only into an empty deployment",
							name, p, starts[p], ends[p])
					}
				}
			}
		}
		if err != nil {
			return fmt.Errorf("restore: offsets of %s: %w", name, err)
		}
	}
	return nil
}

// createTopics creates posts and likes as a worker would (kept forever,
// the backup's partition count, --replication) unless they exist, and
// checks that existing ones keep records forever with their own times.
func createTopics(ctx context.Context, o Options) error {
	var specs []kafka.TopicSpec
	for _, s := range o.Namespace.Gen(0).Topics() {
		if s.Name == o.topic("posts") || s.Name == o.topic("likes") {
			specs = append(specs, s)
		}
	}
	if err := o.Cluster.EnsureTopics(ctx, specs); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	cl, err := o.Cluster.Client("restore-check")
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	configs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, o.topic("posts"), o.topic("likes"))
	if err != nil {
		return fmt.Errorf("restore: settings of posts and likes: %w", err)
	}
	for _, rc := range configs {
		if rc.Err != nil {
			return fmt.Errorf("restore: settings of %s: %w", rc.Name, rc.Err)
		}
		if err := keepsForever(rc.Name, rc.Configs); err != nil {
			return err
		}
	}
	return nil
}

// keepsForever checks a topic's effective settings: a restored record
// keeps its original time, so a topic with time retention would delete
// the oldest posts at its next segment roll, after a restore that
// succeeded.
func keepsForever(topic string, configs []kadm.Config) error {
	want := map[string]string{"retention.ms": "-1", "cleanup.policy": "delete", "message.timestamp.type": "CreateTime"}
	for _, c := range configs {
		w, ok := want[c.Key]
		if !ok {
			continue
		}
		got := ""
		if c.Value != nil {
			got = *c.Value
		}
		if got != w {
			return fmt.Errorf("restore: %s has %s=%s; the source of truth needs %s=%s (kafka-configs --alter --entity-type topics --entity-name %s --add-config %s=%s)",
				topic, c.Key, got, c.Key, w, topic, c.Key, w)
		}
	}
	return nil
}
