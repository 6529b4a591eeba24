package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
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
}

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
	for _, name := range Logs {
		t, n, err := takeTopic(ctx, o, name, spans[name])
		if err != nil {
			return nil, err
		}
		m.Topics = append(m.Topics, t)
		res.Bytes += n
	}
	if err := writeManifest(o.Dir, m); err != nil {
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
// taken before posts', so every like read was written after the post it
// names was (the API writes a like only of a post it has seen in posts).
func bounds(ctx context.Context, o Options) (map[string]kafka.Spans, error) {
	cl, err := o.Cluster.Client("backup")
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
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
	tick := time.Now()
	var read int64
	err := o.Cluster.ReadSpans(ctx, spans, true, func(r *kgo.Record) {
		if werr == nil {
			werr = writers[r.Partition].add(r)
		}
		if read++; time.Since(tick) >= o.Every {
			tick = time.Now()
			fmt.Fprintf(o.Progress, "backup: %s: %d records\n", name, read)
		}
	})
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
// manifest: size, SHA-256, and that its records parse and number what the
// manifest says. It returns the manifest and the bytes read.
func Verify(dir string) (*Manifest, int64, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, 0, err
	}
	var total int64
	for _, t := range m.Topics {
		for _, p := range t.Partitions {
			if err := eachRecord(dir, p, func(*Record) error { return nil }); err != nil {
				return nil, 0, err
			}
			total += p.Bytes
		}
	}
	return m, total, nil
}

// eachRecord reads p's file, calls fn with each record, and checks the
// file against p once it has been read whole.
func eachRecord(dir string, p Partition, fn func(*Record) error) error {
	f, err := os.Open(filepath.Join(dir, p.File))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	} else if fi.Size() != p.Bytes {
		return fmt.Errorf("%w: %s is %d bytes long, the manifest says %d", ErrCorrupt, p.File, fi.Size(), p.Bytes)
	}
	h := &hashWriter{h: sha256.New()}
	rd, err := newReader(io.TeeReader(io.LimitReader(f, p.Bytes), h), p.File)
	if err != nil {
		return err
	}
	var n int64
	for {
		r, err := rd.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if n++; n > p.Records {
			return fmt.Errorf("%w: %s holds more than the %d records of the manifest", ErrCorrupt, p.File, p.Records)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	switch {
	case h.n != p.Bytes:
		return fmt.Errorf("%w: %s is %d bytes long, the manifest says %d", ErrCorrupt, p.File, h.n, p.Bytes)
	case hex.EncodeToString(h.h.Sum(nil)) != p.SHA256:
		return fmt.Errorf("%w: %s's SHA-256 differs from the manifest's", ErrCorrupt, p.File)
	case n != p.Records:
		return fmt.Errorf("%w: %s holds %d records, the manifest says %d", ErrCorrupt, p.File, n, p.Records)
	}
	return nil
}

// Restore writes the backup in o.Dir into o.Namespace's posts and likes of
// o.Cluster, which must be empty or absent, after checking the whole
// backup. The workers started on the cluster then rebuild everything else
// from them.
func Restore(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	started := time.Now()
	m, size, err := Verify(o.Dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Progress, "restore: backup of %s verified: %d records, %d bytes\n", m.Taken.Format(time.RFC3339), m.Records(), size)
	parts := len(m.Topics[0].Partitions)
	if parts != o.Cluster.PartitionCount() {
		return nil, fmt.Errorf("restore: the backup's topics have %d partitions, this cluster's tagstream %d: run with --partitions %d",
			parts, o.Cluster.PartitionCount(), parts)
	}
	if err := emptyTopics(ctx, o); err != nil {
		return nil, err
	}
	cl, err := o.Cluster.Client("restore", kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(MaxRecord+1<<10), kgo.MaxBufferedBytes(64<<20))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var (
		mu      sync.Mutex
		perr    error
		written int64
	)
	tick := time.Now()
	for _, t := range m.Topics {
		topic := o.topic(t.Name)
		for _, p := range t.Partitions {
			err := eachRecord(o.Dir, p, func(r *Record) error {
				mu.Lock()
				err := perr
				mu.Unlock()
				if err != nil {
					return err
				}
				rec := &kgo.Record{Topic: topic, Partition: p.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}
				cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil && perr == nil {
						perr = fmt.Errorf("restore: write %s/%d: %w", topic, p.Partition, err)
					}
					written++
				})
				if time.Since(tick) >= o.Every {
					tick = time.Now()
					mu.Lock()
					fmt.Fprintf(o.Progress, "restore: %d of %d records written\n", written, m.Records())
					mu.Unlock()
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if perr != nil {
		return nil, perr
	}
	res := &Result{Manifest: m, Bytes: size, Took: time.Since(started)}
	fmt.Fprintf(o.Progress, "restore: %d records into %s and %s in %s; start the workers to rebuild the state\n",
		m.Records(), o.topic("posts"), o.topic("likes"), res.Took.Round(time.Millisecond))
	return res, nil
}

// emptyTopics creates posts and likes as a worker would (kept forever,
// the backup's partition count) and refuses to go on if either holds a
// record: a restore into a live deployment would count its posts twice.
func emptyTopics(ctx context.Context, o Options) error {
	var specs []kafka.TopicSpec
	for _, s := range o.Namespace.Gen(0).Topics() {
		if s.Name == o.topic("posts") || s.Name == o.topic("likes") {
			specs = append(specs, s)
		}
	}
	if err := o.Cluster.EnsureTopics(ctx, specs); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	for _, s := range specs {
		starts, ends, err := o.Cluster.Bounds(ctx, s.Name)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		for _, p := range slices.Sorted(maps.Keys(ends)) {
			if ends[p] > starts[p] {
				return fmt.Errorf("restore: %s already holds records (partition %d, offsets %d..%d): restore only into an empty deployment",
					s.Name, p, starts[p], ends[p])
			}
		}
	}
	return nil
}
