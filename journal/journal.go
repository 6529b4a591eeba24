// Package journal keeps a local copy of a prefix of one changelog
// partition, so a process restarted after a SIGKILL reads its table from
// disk and only the changelog's tail from Kafka.
//
// Invariants (checked in journal_test.go):
//
//  1. What Open loads is a prefix of what was appended: every record up to
//     some point, in order, none after it. A torn or corrupt record (a kill
//     in the middle of a write, a disk error) ends the prefix there; the
//     file is cut back to it.
//  2. The caller appends only records the changelog holds durably (acknowledged
//     by the broker, or committed in a transaction), in changelog order,
//     with their offsets. With 1 and 2, the loaded state equals the
//     changelog up to Loaded.Offset, and reading the changelog from
//     Loaded.Offset+1 completes it. A value written locally whose changelog
//     write a kill lost is never in the copy.
//  3. Compact replaces the file by one record per live key, all at the
//     offset given, atomically (rename): a kill during it leaves the old
//     file.
//
// A journal is not synced to disk: it survives a killed process, which is
// what it is for; after a machine crash it may be shorter or corrupt at its
// tail, which 1 turns into a shorter prefix.
package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// MinCompact is the journal size below which NeedsCompaction is false:
// rewriting a small table often costs more than reading a little more at
// the next start.
const MinCompact = 8 << 20

// ErrLocked is returned by Open when another open Journal (in this process
// or another) holds the file: two writers would interleave their records.
var ErrLocked = errors.New("journal: in use by another writer (is --state-dir shared by two processes?)")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Loaded is the state a journal held when it was opened.
type Loaded struct {
	// Values holds every live key's value.
	Values map[string][]byte
	// Offset is the changelog offset of the last record loaded, -1 if
	// none: read the changelog from Offset+1.
	Offset int64
	// Cut is how many bytes at the file's end did not form whole, intact
	// records and were cut off (0 after a clean stop).
	Cut int64
}

// Fits reports whether a journal that ends at l.Offset can be a prefix of
// a changelog partition whose records start at start and end before end:
// one at or past the end (the topic was recreated under it) or before the
// start (records Kafka no longer has) is not, and must be Reset.
func (l Loaded) Fits(start, end int64) bool {
	return l.Offset < 0 || l.Offset < end && l.Offset+1 >= start
}

// Journal is one changelog partition's local copy. Its methods are safe
// for concurrent use.
type Journal struct {
	path string
	lock *os.File

	mu     sync.Mutex
	f      *os.File
	size   int64 // bytes in f
	base   int64 // size after the last load or compaction
	last   int64 // offset of the last record
	buf    []byte
	failed error
}

// Open opens (creating it and its directory if needed) the journal at path
// and loads it.
func Open(path string) (*Journal, Loaded, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, Loaded{}, fmt.Errorf("journal: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, Loaded{}, fmt.Errorf("journal: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, Loaded{}, fmt.Errorf("%w: %s: %v", ErrLocked, path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		lock.Close()
		return nil, Loaded{}, fmt.Errorf("journal: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		lock.Close()
		return nil, Loaded{}, fmt.Errorf("journal: read %s: %w", path, err)
	}
	l, good := parse(data)
	if good < int64(len(data)) {
		if err := f.Truncate(good); err != nil {
			f.Close()
			lock.Close()
			return nil, Loaded{}, fmt.Errorf("journal: cut %s back to its intact prefix: %w", path, err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		lock.Close()
		return nil, Loaded{}, fmt.Errorf("journal: %w", err)
	}
	// The base is what a compaction would leave, not the file: a journal
	// loaded long after its last compaction would otherwise grow to twice
	// that before the next.
	var live int64
	for k, v := range l.Values {
		live += int64(header + 2*binary.MaxVarintLen32 + 1 + len(k) + len(v))
	}
	return &Journal{path: path, lock: lock, f: f, size: good, base: min(good, live), last: l.Offset}, l, nil
}

// Record layout: crc32c(rest) u32 | length of rest u32 | rest, where rest
// is uvarint offset+1 | uvarint len(key) | key | kind byte | value.
const (
	kindDelete = 0
	kindSet    = 1
	header     = 8
)

// parse reads the intact prefix of data.
func parse(data []byte) (Loaded, int64) {
	l := Loaded{Values: map[string][]byte{}, Offset: -1}
	pos := 0
records:
	for len(data)-pos >= header {
		sum := binary.LittleEndian.Uint32(data[pos:])
		n := int(binary.LittleEndian.Uint32(data[pos+4:]))
		if n > len(data)-pos-header {
			break
		}
		rest := data[pos+header : pos+header+n]
		if crc32.Checksum(rest, castagnoli) != sum {
			break
		}
		off, k, ok := uvarint(rest)
		if !ok || off == 0 {
			break
		}
		klen, k2, ok := uvarint(rest[k:])
		k += k2
		if !ok || klen >= uint64(len(rest)-k) {
			break
		}
		key := string(rest[k : k+int(klen)])
		k += int(klen)
		switch rest[k] {
		case kindSet:
			l.Values[key] = rest[k+1:]
		case kindDelete:
			delete(l.Values, key)
		default:
			break records // not a record this version writes: the prefix ends here
		}
		l.Offset = int64(off) - 1
		pos += header + n
	}
	l.Cut = int64(len(data) - pos)
	// The values point into data, most of which is overwritten history:
	// copy the live ones so data can go.
	for k, v := range l.Values {
		l.Values[k] = bytes.Clone(v)
	}
	return l, int64(pos)
}

func uvarint(b []byte) (uint64, int, bool) {
	v, n := binary.Uvarint(b)
	return v, n, n > 0
}

// Append adds a changelog record: key set to value, or deleted when value
// is nil, at offset. Offsets must increase; a record at or below the last
// one is ignored (a changelog read again from an earlier point). The
// first write error is returned by this and every later call.
func (j *Journal) Append(key string, value []byte, offset int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed != nil {
		return j.failed
	}
	if offset <= j.last {
		return nil
	}
	j.buf = appendRecord(j.buf[:0], key, value, offset)
	if _, err := j.f.Write(j.buf); err != nil {
		j.failed = fmt.Errorf("journal: append to %s: %w", j.path, err)
		return j.failed
	}
	j.size += int64(len(j.buf))
	j.last = offset
	return nil
}

func appendRecord(b []byte, key string, value []byte, offset int64) []byte {
	b = append(b, make([]byte, header)...)
	b = binary.AppendUvarint(b, uint64(offset)+1)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	if value == nil {
		b = append(b, kindDelete)
	} else {
		b = append(b, kindSet)
		b = append(b, value...)
	}
	rest := b[header:]
	binary.LittleEndian.PutUint32(b, crc32.Checksum(rest, castagnoli))
	binary.LittleEndian.PutUint32(b[4:], uint32(len(rest)))
	return b
}

// Reset empties the journal, which then holds no record (Offset -1).
func (j *Journal) Reset() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("journal: reset %s: %w", j.path, err)
	}
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("journal: reset %s: %w", j.path, err)
	}
	j.size, j.base, j.last = 0, 0, -1
	return nil
}

// Offset returns the offset of the last record, -1 if none.
func (j *Journal) Offset() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.last
}

// NeedsCompaction reports whether the file has grown to twice its live
// records' size (as of the last load or compaction), and past MinCompact. A start then
// reads at most about twice the live state (at four times, a hot list
// table's 270 MB journal took 2.6 s to load in make chaos); compacting
// writes the state once per state's worth of appends.
func (j *Journal) NeedsCompaction() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size > MinCompact && j.size > 2*j.base
}

// Compact replaces the file by the live state that each yields, which the
// caller guarantees equals what the journal holds (no acknowledged record
// left to append). each calls yield once per live key.
func (j *Journal) Compact(each func(yield func(key string, value []byte) error) error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed != nil {
		return j.failed
	}
	if j.last < 0 {
		return nil // nothing appended, nothing to keep
	}
	tmp := j.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("journal: compact %s: %w", j.path, err)
	}
	var size int64
	var buf []byte
	werr := each(func(key string, value []byte) error {
		if value == nil {
			return nil
		}
		buf = appendRecord(buf[:0], key, value, j.last)
		size += int64(len(buf))
		_, err := f.Write(buf)
		return err
	})
	if werr == nil {
		werr = f.Close()
	} else {
		f.Close()
	}
	if werr == nil {
		werr = os.Rename(tmp, j.path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("journal: compact %s: %w", j.path, werr)
	}
	nf, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		// The compacted file is in place, but this journal cannot write to it.
		j.failed = fmt.Errorf("journal: reopen %s after compaction: %w", j.path, err)
		return j.failed
	}
	j.f.Close()
	j.f, j.size, j.base = nf, size, size
	return nil
}

// Close closes the file and releases the lock.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.f.Close()
	if lerr := j.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("journal: close %s: %w", j.path, err)
	}
	return nil
}
