package tablestore

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/lovoo/goka/storage"

	"github.com/tagstream/tagstream/journal"
)

// Durable returns a Builder whose Stores keep a journal of their changelog
// partition in dir (dir/<topic>/<partition>.journal), so a process that
// restarts, even after a SIGKILL, loads its table from disk and reads only
// the changelog's tail from Kafka.
//
// The journal holds only what the changelog holds (package journal,
// invariant 2). While goka reads the changelog (a recovery, or always for
// a view, processor false), each record is journaled when goka stores its
// offset. A processor's own writes are journaled when the broker
// acknowledges them (Acked, called by tagstream's goka producer in the
// order of the writes), never when goka sets them locally: a write that a
// kill lost before the broker had it is not in the changelog, and must not
// be in the journal either, or the restarted table would hold a value no
// changelog reader ever sees (goka's LevelDB storage keeps such a value,
// which is why tagstream does not use it).
//
// bounds, if not nil, gives the changelog partition's first and end
// offsets: a journal that ends at or past the end (the topic was recreated
// under it) or before the start is not a prefix of this changelog, and is
// emptied (goka itself would take it for up to date).
func Durable(dir string, processor bool, bounds Bounds) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		s := New()
		s.topic, s.partition = topic, partition
		s.d = &durable{
			path:      filepath.Join(dir, topic, strconv.Itoa(int(partition))+".journal"),
			processor: processor,
			bounds:    bounds,
		}
		return s, nil
	}
}

// Bounds returns a changelog partition's first offset and its end (the
// offset its next record will get).
type Bounds func(topic string, partition int32) (start, end int64, err error)

type write struct {
	key   string
	value []byte // nil: delete
}

// durable is a Store's journal and the bookkeeping that decides what goes
// into it. Its fields are guarded by the Store's mu.
type durable struct {
	path      string
	processor bool
	bounds    Bounds
	j         *journal.Journal

	following bool    // the Store is reading the changelog: journal at SetOffset
	pending   []write // read from the changelog, offset not yet set
	// inflight holds, per key with writes of this processor the broker
	// has not acknowledged yet, how many and the key's journaled value:
	// what a compaction must write for it instead of the table's value.
	inflight map[string]*inflight
	failed   bool // a journal write failed: logged once, the Store goes on in memory
}

type inflight struct {
	n       int
	durable []byte // nil: no value (never written, or deleted)
}

// owners maps a processor's table partition to its open durable Store, for
// Acked.
var owners sync.Map

// ownerKey is a comparable key: Acked looks one up for every goka write
// of the process, so it must not build a string each time.
type ownerKey struct {
	topic     string
	partition int32
}

func (d *durable) open(s *Store) error {
	start := time.Now()
	j, l, err := journal.Open(d.path)
	if err != nil {
		return fmt.Errorf("tablestore: %s/%d: %w", s.topic, s.partition, err)
	}
	if l.Offset >= 0 && d.bounds != nil {
		first, end, err := d.bounds(s.topic, s.partition)
		if err != nil {
			_ = j.Close()
			return fmt.Errorf("tablestore: %s/%d: the changelog's offsets, to check the journal against: %w", s.topic, s.partition, err)
		}
		if !l.Fits(first, end) {
			slog.Warn("table journal is not a prefix of its changelog; reading the changelog whole",
				"path", d.path, "journal_offset", l.Offset, "changelog_start", first, "changelog_end", end)
			if err := j.Reset(); err != nil {
				_ = j.Close()
				return fmt.Errorf("tablestore: %s/%d: %w", s.topic, s.partition, err)
			}
			l = journal.Loaded{Values: map[string][]byte{}, Offset: -1}
		}
	}
	s.mu.Lock()
	s.m = l.Values
	if l.Offset >= 0 {
		s.offset, s.hasOffset = l.Offset, true
	}
	d.j, d.following = j, true
	s.mu.Unlock()
	if d.processor {
		owners.Store(ownerKey{s.topic, s.partition}, s)
	}
	slog.Info("table partition loaded from its journal", "topic", s.topic, "partition", s.partition,
		"keys", len(l.Values), "offset", l.Offset, "cut_bytes", l.Cut, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (d *durable) close(s *Store) error {
	owners.CompareAndDelete(ownerKey{s.topic, s.partition}, s)
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.j == nil {
		return nil
	}
	err := d.j.Close()
	d.j = nil
	return err
}

// recovered ends a processor's changelog reading: from now on its writes
// are its own, journaled when acknowledged. A view goes on reading.
func (d *durable) recovered(*Store) {
	if d.processor {
		d.following = false
		d.pending = d.pending[:0]
		d.inflight = map[string]*inflight{}
	}
}

// wrote notes a Set or Delete, before m changes.
func (d *durable) wrote(m map[string][]byte, key string, value []byte) {
	if d.following {
		d.pending = append(d.pending, write{key, value})
		return
	}
	f := d.inflight[key]
	if f == nil {
		f = &inflight{durable: m[key]} // every earlier write of key is journaled
		d.inflight[key] = f
	}
	f.n++
}

// read notes goka's SetOffset: while following the changelog, the writes
// since the last one are the record at offset; otherwise it is goka noting
// an acknowledged write, which Acked has journaled.
func (d *durable) read(s *Store, offset int64) error {
	if !d.following || d.j == nil {
		return nil
	}
	for _, w := range d.pending {
		d.append(s, w.key, w.value, offset)
	}
	d.pending = d.pending[:0]
	d.compact(s)
	return nil
}

// append journals a record. A failed journal write does not stop the
// table (Kafka holds it); the journal keeps its intact prefix and the next
// start reads more of the changelog.
func (d *durable) append(s *Store, key string, value []byte, offset int64) {
	if err := d.j.Append(key, value, offset); err != nil && !d.failed {
		d.failed = true
		slog.Error("table journal write failed; the table goes on in memory and the next start reads more of the changelog",
			"topic", s.topic, "partition", s.partition, "err", err)
	}
}

// compact rewrites the journal when it has grown enough: the table's
// values, except for keys with writes in flight, whose journaled values
// it writes instead.
func (d *durable) compact(s *Store) {
	if d.failed || !d.j.NeedsCompaction() {
		return
	}
	start := time.Now()
	err := d.j.Compact(func(yield func(string, []byte) error) error {
		for k, v := range s.m {
			if f, ok := d.inflight[k]; ok {
				v = f.durable
			}
			if err := yield(k, v); err != nil { // a nil value is skipped
				return err
			}
		}
		for k, f := range d.inflight {
			if _, ok := s.m[k]; !ok {
				if err := yield(k, f.durable); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		d.failed = true
		slog.Error("table journal compaction failed; the table goes on in memory", "topic", s.topic, "partition", s.partition, "err", err)
		return
	}
	slog.Info("table journal compacted", "topic", s.topic, "partition", s.partition, "keys", len(s.m), "took", time.Since(start).Round(time.Millisecond))
}

// Acked journals a processor's table write that the broker acknowledged at
// offset of topic's partition. The producer calls it for every write, in
// the order the process made them; writes to topics that are not a durable
// processor table here are ignored.
func Acked(topic string, partition int32, key string, value []byte, offset int64) {
	v, ok := owners.Load(ownerKey{topic, partition})
	if !ok {
		return
	}
	s := v.(*Store)
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	if d.following || d.j == nil {
		return // recovering: the changelog read journals it
	}
	if f := d.inflight[key]; f != nil {
		f.n--
		f.durable = value
		if f.n == 0 {
			delete(d.inflight, key)
		}
	}
	if d.failed {
		return
	}
	// A goka changelog is written by one idempotent producer at a time, so
	// its offsets follow each other. A gap means a record this journal
	// missed (another writer, a changelog recreated under a journal that
	// goka took for ahead of it): the journal is no longer a prefix, and
	// is removed so the next start reads the changelog whole.
	if last := d.j.Offset(); offset != last+1 {
		d.failed = true
		slog.Warn("table journal missed a changelog record; removed, the next start reads the changelog whole",
			"topic", s.topic, "partition", s.partition, "journal_offset", last, "acknowledged_offset", offset)
		_ = d.j.Close()
		d.j = nil
		if err := os.Remove(d.path); err != nil {
			slog.Error("table journal could not be removed", "path", d.path, "err", err)
		}
		return
	}
	d.append(s, key, value, offset)
	d.compact(s)
}
