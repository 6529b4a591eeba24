// Package backup copies tagstream's source of truth, the posts and likes
// logs, to a folder of files and back into a cluster (`tagstream backup`,
// `tagstream restore`). Everything else a deployment holds (the derived
// topics, the group tables and their changelogs, the Cassandra snapshot,
// the edge's cache) is rebuilt from these two logs by the workers of the
// cluster restored into, so a backup of them, with the photos' bucket, is a
// backup of the whole deployment (README, Disaster recovery).
//
// Invariants, checked in backup_test.go:
//   - A backup is complete iff its manifest.json exists: the manifest is
//     written last, after every partition file has been synced, and names
//     each file's size and SHA-256.
//   - Restore writes nothing until every file has been read and matches
//     its manifest entry; a backup that was cut short, altered or corrupted
//     is refused as a whole.
//   - Each record goes back to the partition it was read from, in the same
//     order, with its key, value, headers and timestamp; its offset may
//     differ (transaction markers and deleted records take none).
//   - Restore writes only into empty topics with the backup's partition
//     count: the records' keys must land where the workers' co-partitioned
//     tables expect them.
//   - likes is read up to the end it had before posts' end was taken, so a
//     like in the backup never names a post the backup lacks.
package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Format is the version of the files a backup is made of.
const Format = 1

// magic starts every partition file.
const magic = "tagstream-backup 1\n"

const (
	// MaxRecord bounds one record's frame in a file (key, value, headers):
	// well above Kafka's default message.max.bytes (1 MiB) and tagstream's
	// own input limits, so no record tagstream accepted is refused, while a
	// corrupted length cannot make restore allocate gigabytes.
	MaxRecord = 16 << 20
	// maxHeaders bounds the headers of one record.
	maxHeaders = 256
	// maxManifest bounds manifest.json (a few hundred bytes per partition).
	maxManifest = 16 << 20
	// ManifestName is the manifest's file name in a backup folder.
	ManifestName = "manifest.json"
)

// Manifest describes a complete backup.
type Manifest struct {
	Format int       `json:"format"`
	Taken  time.Time `json:"taken"`
	// Namespace is the deployment the logs were read from; restore may
	// write them into another.
	Namespace string  `json:"namespace"`
	Topics    []Topic `json:"topics"`
}

// Topic is one log of a backup, by its name within a namespace: posts or
// likes.
type Topic struct {
	Name       string      `json:"name"`
	Partitions []Partition `json:"partitions"`
}

// Partition is one partition's file.
type Partition struct {
	Partition int32 `json:"partition"`
	// From and To are the source offsets read, [From, To).
	From    int64  `json:"from"`
	To      int64  `json:"to"`
	Records int64  `json:"records"`
	File    string `json:"file"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
}

// Logs are the topics a backup holds, in the order they are read back.
var Logs = []string{"posts", "likes"}

// ErrCorrupt is wrapped by every error about a backup's contents: a file
// that does not match its manifest or does not parse.
var ErrCorrupt = errors.New("backup: corrupt")

var fileName = regexp.MustCompile(`^(posts|likes)-[0-9]{1,5}\.records$`)

// Records is the number of records in every topic of the manifest.
func (m *Manifest) Records() (n int64) {
	for _, t := range m.Topics {
		for _, p := range t.Partitions {
			n += p.Records
		}
	}
	return n
}

// validate checks what restore relies on before it opens any file.
func (m *Manifest) validate() error {
	if m.Format != Format {
		return fmt.Errorf("%w: manifest format %d, this tagstream reads %d", ErrCorrupt, m.Format, Format)
	}
	if len(m.Topics) != len(Logs) {
		return fmt.Errorf("%w: manifest names %d topics, want posts and likes", ErrCorrupt, len(m.Topics))
	}
	for i, t := range m.Topics {
		if t.Name != Logs[i] {
			return fmt.Errorf("%w: manifest topic %d is %q, want %q", ErrCorrupt, i, t.Name, Logs[i])
		}
		if len(t.Partitions) == 0 || len(t.Partitions) != len(m.Topics[0].Partitions) {
			return fmt.Errorf("%w: %s has %d partitions, posts %d", ErrCorrupt, t.Name, len(t.Partitions), len(m.Topics[0].Partitions))
		}
		for j, p := range t.Partitions {
			switch {
			case p.Partition != int32(j):
				return fmt.Errorf("%w: %s's partition %d is listed as %d", ErrCorrupt, t.Name, j, p.Partition)
			case p.File != fmt.Sprintf("%s-%d.records", t.Name, j) || !fileName.MatchString(p.File):
				return fmt.Errorf("%w: %s/%d: file name %q", ErrCorrupt, t.Name, j, p.File)
			case p.Records < 0 || p.Bytes < int64(len(magic)) || p.From < 0 || p.To < p.From || p.Records > p.To-p.From:
				return fmt.Errorf("%w: %s/%d: offsets %d..%d, %d records in %d bytes", ErrCorrupt, t.Name, j, p.From, p.To, p.Records, p.Bytes)
			case len(p.SHA256) != 64:
				return fmt.Errorf("%w: %s/%d: sha256 %q", ErrCorrupt, t.Name, j, p.SHA256)
			}
		}
	}
	return nil
}

// ReadManifest reads and checks dir's manifest.
func ReadManifest(dir string) (*Manifest, error) {
	f, err := regular(filepath.Join(dir, ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("backup: %s has no %s: not a backup, or one that did not finish", dir, ManifestName)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("backup: read manifest: %w", err)
	}
	if len(data) > maxManifest {
		return nil, fmt.Errorf("%w: manifest over %d bytes", ErrCorrupt, maxManifest)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// writer writes one partition file.
type writer struct {
	f       *os.File
	buf     *bufio.Writer
	sum     *hashWriter
	records int64
	frame   []byte
}

// hashWriter is a SHA-256 that also counts the bytes written: a file's
// size and sum, as the manifest records them.
type hashWriter struct {
	hash.Hash
	n int64
}

func newHashWriter() *hashWriter { return &hashWriter{Hash: sha256.New()} }

func (h *hashWriter) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	return h.Hash.Write(p)
}

// sum is the SHA-256 in hex.
func (h *hashWriter) sum() string { return hex.EncodeToString(h.Sum(nil)) }

func newWriter(path string) (*writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	w := &writer{f: f, sum: newHashWriter()}
	w.buf = bufio.NewWriterSize(io.MultiWriter(f, w.sum), 1<<20)
	if _, err := w.buf.WriteString(magic); err != nil {
		f.Close()
		return nil, fmt.Errorf("backup: %w", err)
	}
	return w, nil
}

// add appends r as: uvarint frame length, then offset and timestamp (Unix
// ms) as varints, key and value each as a uvarint (0 for null, else length
// + 1: Kafka tells a null key or value from an empty one) and the bytes,
// the header count, and each header's key and value the same way.
func (w *writer) add(r *kgo.Record) error {
	f := w.frame[:0]
	f = binary.AppendVarint(f, r.Offset)
	f = binary.AppendVarint(f, r.Timestamp.UnixMilli())
	f = appendBytes(f, r.Key)
	f = appendBytes(f, r.Value)
	f = binary.AppendUvarint(f, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		f = appendBytes(f, []byte(h.Key))
		f = appendBytes(f, h.Value)
	}
	w.frame = f
	if len(f) > MaxRecord || len(r.Headers) > maxHeaders {
		return fmt.Errorf("backup: %s/%d@%d: a record of %d bytes and %d headers is over the backup's bounds (%d, %d)",
			r.Topic, r.Partition, r.Offset, len(f), len(r.Headers), MaxRecord, maxHeaders)
	}
	var n [binary.MaxVarintLen64]byte
	if _, err := w.buf.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))]); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := w.buf.Write(f); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	w.records++
	return nil
}

func appendBytes(b, p []byte) []byte {
	if p == nil {
		return binary.AppendUvarint(b, 0)
	}
	return append(binary.AppendUvarint(b, uint64(len(p))+1), p...)
}

// close flushes and syncs the file and returns its size and SHA-256.
func (w *writer) close() (int64, string, error) {
	err := w.buf.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	return w.sum.n, w.sum.sum(), nil
}

// Record is one record read back from a file.
type Record struct {
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []kgo.RecordHeader
}

// reader reads one partition file, checking its bounds as it goes.
type reader struct {
	r     *bufio.Reader
	name  string
	frame []byte
}

func newReader(r io.Reader, name string) (*reader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != magic {
		return nil, fmt.Errorf("%w: %s does not start as a tagstream backup file", ErrCorrupt, name)
	}
	return &reader{r: br, name: name}, nil
}

// next returns the next record, or io.EOF after the last.
func (rd *reader) next() (*Record, error) {
	n, err := binary.ReadUvarint(rd.r)
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: frame length: %v", ErrCorrupt, rd.name, err)
	}
	if n == 0 || n > MaxRecord {
		return nil, fmt.Errorf("%w: %s: a frame of %d bytes (at most %d)", ErrCorrupt, rd.name, n, MaxRecord)
	}
	if cap(rd.frame) < int(n) {
		rd.frame = make([]byte, n)
	}
	f := rd.frame[:n]
	if _, err := io.ReadFull(rd.r, f); err != nil {
		return nil, fmt.Errorf("%w: %s: a frame cut short: %v", ErrCorrupt, rd.name, err)
	}
	p := parser{b: f}
	rec := &Record{Offset: p.varint(), Timestamp: time.UnixMilli(p.varint())}
	rec.Key, rec.Value = p.bytes(), p.bytes()
	if h := p.uvarint(); h > maxHeaders {
		p.err = fmt.Errorf("%d headers (at most %d)", h, maxHeaders)
	} else {
		for range h {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: string(p.bytes()), Value: p.bytes()})
		}
	}
	if p.err == nil && len(p.b) != 0 {
		p.err = fmt.Errorf("%d bytes after the record", len(p.b))
	}
	if p.err != nil {
		return nil, fmt.Errorf("%w: %s: a record at offset %d: %v", ErrCorrupt, rd.name, rec.Offset, p.err)
	}
	return rec, nil
}

// parser reads a frame's fields; the first error sticks. The byte slices
// it returns are copies: the frame's buffer is reused.
type parser struct {
	b   []byte
	err error
}

func (p *parser) varint() int64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Varint(p.b)
	if n <= 0 {
		p.err = errors.New("a bad varint")
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *parser) uvarint() uint64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		p.err = errors.New("a bad length")
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *parser) bytes() []byte {
	n := p.uvarint()
	if p.err != nil || n == 0 {
		return nil
	}
	n--
	if n > uint64(len(p.b)) {
		p.err = fmt.Errorf("a length of %d with %d bytes left", n, len(p.b))
		return nil
	}
	out := append(make([]byte, 0, n), p.b[:n]...)
	p.b = p.b[n:]
	return out
}
