// Package tablestore is an in-memory goka table storage whose writes cost a
// map assignment.
//
// goka's own storage.NewMemory re-sorts every key on each insert of a new
// key: with hundreds of thousands of posts in extractor-table, that sort was
// 22 % of the CPU of `tagstream run` under load (pprof), and it grows as
// n log n per write. goka's LevelDB storage writes a journal record per
// value and per offset, which was over 40 %. Here keys are sorted only when
// an iterator is asked for, which tagstream's processors and views never do
// on the hot path.
//
// A Store from Builder is not durable: a process that restarts recovers it
// from the table's changelog in Kafka, which is goka's normal recovery path.
// A Store from Durable keeps a journal of the changelog's prefix on disk
// (durable.go), so a restart reads only the changelog's tail.
package tablestore

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/lovoo/goka/storage"
)

// Builder returns a goka storage.Builder creating one Store per partition.
func Builder() storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		s := New()
		s.topic, s.partition = topic, partition
		return s, nil
	}
}

// Store is one partition's table.
type Store struct {
	mu        sync.RWMutex
	m         map[string][]byte
	offset    int64
	hasOffset bool

	// topic, partition and opened name the recovery in its log line: a
	// restart's delay is mostly this recovery, so operators need to see it.
	topic     string
	partition int32
	opened    time.Time

	d *durable // nil: memory only
}

// New returns an empty store.
func New() *Store { return &Store{m: map[string][]byte{}} }

// ErrNilValue is returned by Set for a nil value, as goka's storages do.
var ErrNilValue = errors.New("tablestore: nil value")

// Open loads the journal of a durable Store.
func (s *Store) Open() error {
	s.opened = time.Now()
	if s.topic != "" {
		openStores.Store(s, struct{}{})
	}
	if s.d != nil {
		return s.d.open(s)
	}
	return nil
}

// Close closes the journal of a durable Store.
func (s *Store) Close() error {
	openStores.Delete(s)
	if s.d != nil {
		return s.d.close(s)
	}
	return nil
}

// MarkRecovered logs how long the partition took to recover from its
// changelog and how many keys it holds.
func (s *Store) MarkRecovered() error {
	if s.topic == "" {
		return nil
	}
	s.mu.Lock()
	keys := len(s.m)
	if s.d != nil {
		s.d.recovered(s)
	}
	s.mu.Unlock()
	slog.Info("table partition recovered", "topic", s.topic, "partition", s.partition, "keys", keys,
		"took", time.Since(s.opened).Round(time.Millisecond))
	return nil
}

// Has reports whether key holds a value.
func (s *Store) Has(key string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.m[key]
	return ok, nil
}

// Get returns key's value, nil if none.
func (s *Store) Get(key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[key], nil
}

// Set stores value under key. The slice is kept as it is and never
// modified, and Get returns it as it is: the tables' codecs find a value
// they decoded by the slice's identity (events.Cached.Shared).
func (s *Store) Set(key string, value []byte) error {
	if value == nil {
		return ErrNilValue
	}
	s.mu.Lock()
	if s.d != nil {
		s.d.wrote(s.m, key, value)
	}
	s.m[key] = value
	s.mu.Unlock()
	return nil
}

// Delete removes key.
func (s *Store) Delete(key string) error {
	s.mu.Lock()
	if s.d != nil {
		s.d.wrote(s.m, key, nil)
	}
	delete(s.m, key)
	s.mu.Unlock()
	return nil
}

// GetOffset returns the stored offset, or def if none was stored.
func (s *Store) GetOffset(def int64) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.hasOffset {
		return def, nil
	}
	return s.offset, nil
}

// SetOffset stores the changelog offset the table has consumed.
func (s *Store) SetOffset(offset int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset, s.hasOffset = offset, true
	if s.d != nil {
		return s.d.read(s, offset)
	}
	return nil
}

// Iterator iterates a sorted snapshot of every key.
func (s *Store) Iterator() (storage.Iterator, error) { return s.snapshot(nil, nil), nil }

// IteratorWithRange iterates a sorted snapshot of the keys in [start, limit);
// an empty limit means every key with the prefix start.
func (s *Store) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	if len(limit) == 0 {
		return s.snapshot(start, prefixLimit(start)), nil
	}
	return s.snapshot(start, limit), nil
}

func prefixLimit(prefix []byte) []byte {
	limit := bytes.Clone(prefix)
	for i := len(limit) - 1; i >= 0; i-- {
		if limit[i] < 0xff {
			limit[i]++
			return limit[:i+1]
		}
	}
	return nil // the prefix is all 0xff: no upper bound
}

func (s *Store) snapshot(start, limit []byte) *iterator {
	s.mu.RLock()
	defer s.mu.RUnlock()
	it := &iterator{i: -1, vals: map[string][]byte{}}
	for k, v := range s.m {
		if start != nil && k < string(start) || limit != nil && k >= string(limit) {
			continue
		}
		it.keys = append(it.keys, k)
		it.vals[k] = v
	}
	slices.Sort(it.keys)
	return it
}

type iterator struct {
	i    int
	keys []string
	vals map[string][]byte
}

func (it *iterator) Next() bool {
	it.i++
	return it.i < len(it.keys)
}

func (it *iterator) Err() error { return nil }

func (it *iterator) Key() []byte {
	if it.i < 0 || it.i >= len(it.keys) {
		return nil
	}
	return []byte(it.keys[it.i])
}

func (it *iterator) Value() ([]byte, error) {
	if it.i < 0 || it.i >= len(it.keys) {
		return nil, nil
	}
	return it.vals[it.keys[it.i]], nil
}

func (it *iterator) Release() { it.i = len(it.keys) }

// Seek moves to the first key >= key; the next Next moves past it.
func (it *iterator) Seek(key []byte) bool {
	i, _ := slices.BinarySearch(it.keys, string(key))
	it.i = i
	return i < len(it.keys)
}
