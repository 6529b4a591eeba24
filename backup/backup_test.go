package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// writeBackup writes a backup of records per topic and partition into a
// new folder, as Take does once it has read them.
func writeBackup(t *testing.T, parts int, records map[string][][]*kgo.Record) string {
	t.Helper()
	dir := t.TempDir()
	m := &Manifest{Format: Format, Taken: time.Now().UTC()}
	for _, name := range Logs {
		top := Topic{Name: name}
		for p := range parts {
			file := name + "-" + string(rune('0'+p)) + ".records"
			w, err := newWriter(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			var recs []*kgo.Record
			if records[name] != nil {
				recs = records[name][p]
			}
			for _, r := range recs {
				if err := w.add(r); err != nil {
					t.Fatal(err)
				}
			}
			n, sum, err := w.close()
			if err != nil {
				t.Fatal(err)
			}
			var to int64
			if len(recs) > 0 {
				to = recs[len(recs)-1].Offset + 1
			}
			top.Partitions = append(top.Partitions, Partition{Partition: int32(p), From: 0, To: to,
				Records: w.records, File: file, Bytes: n, SHA256: sum})
		}
		m.Topics = append(m.Topics, top)
	}
	if err := writeManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	return dir
}

func sample() map[string][][]*kgo.Record {
	ts := time.UnixMilli(1_764_500_000_123)
	return map[string][][]*kgo.Record{
		"posts": {
			{
				{Offset: 0, Timestamp: ts, Key: []byte("alice"), Value: []byte(`{"type":"created"}`),
					Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}, {Key: "null", Value: nil}}},
				// Kafka tells a null value from an empty one, and so
				// must the copy.
				{Offset: 2, Timestamp: ts.Add(time.Second), Key: []byte("alice"), Value: nil},
				{Offset: 3, Timestamp: ts.Add(2 * time.Second), Key: []byte{}, Value: []byte{}},
			},
			{},
		},
		"likes": {{}, {{Offset: 7, Timestamp: ts, Key: []byte("bob"), Value: []byte(`{"type":"liked"}`)}}},
	}
}

// TestFilesKeepEveryField: what a file holds reads back as it was
// written, null and empty kept apart.
func TestFilesKeepEveryField(t *testing.T) {
	in := sample()
	dir := writeBackup(t, 2, in)
	m, _, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Records() != 4 {
		t.Fatalf("manifest counts %d records, want 4", m.Records())
	}
	for ti, top := range m.Topics {
		for _, p := range top.Partitions {
			var got []*Record
			if err := eachRecord(dir, p, func(r *Record) error { got = append(got, r); return nil }); err != nil {
				t.Fatal(err)
			}
			want := in[Logs[ti]][p.Partition]
			if len(got) != len(want) {
				t.Fatalf("%s/%d: %d records, want %d", top.Name, p.Partition, len(got), len(want))
			}
			for i, w := range want {
				g := got[i]
				if g.Offset != w.Offset || !g.Timestamp.Equal(w.Timestamp) || !sameBytes(g.Key, w.Key) || !sameBytes(g.Value, w.Value) || len(g.Headers) != len(w.Headers) {
					t.Errorf("%s/%d #%d: got %+v, want %+v", top.Name, p.Partition, i, g, w)
					continue
				}
				for j := range w.Headers {
					if g.Headers[j].Key != w.Headers[j].Key || !sameBytes(g.Headers[j].Value, w.Headers[j].Value) {
						t.Errorf("%s/%d #%d: header %d %+v, want %+v", top.Name, p.Partition, i, j, g.Headers[j], w.Headers[j])
					}
				}
			}
		}
	}
}

// sameBytes is bytes.Equal that also tells nil from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// TestCorruptBackupsAreRefused: a backup cut short, altered, or made to
// make restore allocate or read out of its folder gets ErrCorrupt (or a
// clear error for a missing manifest) from Verify, which Restore calls
// before it writes anything.
func TestCorruptBackupsAreRefused(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   string
	}{
		{"no manifest: a backup that did not finish", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, ManifestName)))
		}, "has no manifest.json"},
		{"a file cut short", func(t *testing.T, dir string) {
			f := filepath.Join(dir, "posts-0.records")
			b := mustRead(t, f)
			must(t, os.WriteFile(f, b[:len(b)-3], 0o600))
		}, "bytes long, the manifest says"},
		{"a byte changed", func(t *testing.T, dir string) {
			f := filepath.Join(dir, "posts-0.records")
			must(t, os.WriteFile(f, bytes.Replace(mustRead(t, f), []byte("created"), []byte("Created"), 1), 0o600))
		}, "SHA-256 differs"},
		{"a file grown", func(t *testing.T, dir string) {
			f := filepath.Join(dir, "posts-0.records")
			must(t, os.WriteFile(f, append(mustRead(t, f), 0), 0o600))
		}, "bytes long, the manifest says"},
		// The next ones match their manifest: a backup crafted to harm
		// whoever restores it.
		{"a record more than the manifest counts", func(t *testing.T, dir string) {
			frame := []byte{0, 0, 1, 1, 0}
			rewrite(t, dir, 1, 0, append(append([]byte(magic), byte(len(frame))), frame...))
		}, "more than the 0 records"},
		{"a frame cut short", func(t *testing.T, dir string) {
			rewrite(t, dir, 1, 0, append([]byte(magic), 5, 0, 0))
		}, "a frame cut short"},
		{"a frame length of 2 GiB", func(t *testing.T, dir string) {
			rewrite(t, dir, 1, 0, binary.AppendUvarint([]byte(magic), 2<<30))
		}, "a frame of 2147483648 bytes"},
		{"a key longer than its frame", func(t *testing.T, dir string) {
			frame := []byte{0, 0, 100, 'k'}
			rewrite(t, dir, 1, 0, append(append([]byte(magic), byte(len(frame))), frame...))
		}, "a length of 99 with 1 bytes left"},
		{"65,536 headers", func(t *testing.T, dir string) {
			frame := binary.AppendUvarint([]byte{0, 0, 0, 0}, 1<<16)
			rewrite(t, dir, 1, 0, append(append([]byte(magic), byte(len(frame))), frame...))
		}, "65536 headers"},
		{"not a backup file", func(t *testing.T, dir string) {
			rewrite(t, dir, 0, 1, []byte("PK\x03\x04 a zip file, not a backup at all"))
		}, "does not start as a tagstream backup file"},
		{"offsets out of order", func(t *testing.T, dir string) {
			frame := func(off int64) []byte {
				f := binary.AppendVarint(nil, off)
				return append(append(f, 0), 0, 0, 0)
			}
			b := []byte(magic)
			for _, off := range []int64{2, 1} {
				f := frame(off)
				b = append(append(b, byte(len(f))), f...)
			}
			rewrite(t, dir, 1, 0, b)
			editManifest(t, dir, func(m *Manifest) { m.Topics[1].Partitions[0].Records, m.Topics[1].Partitions[0].To = 2, 3 })
		}, "offset 1 after 2"},
		{"a timestamp before 1970", func(t *testing.T, dir string) {
			f := binary.AppendVarint(binary.AppendVarint(nil, 0), -5)
			f = append(f, 0, 0, 0)
			rewrite(t, dir, 1, 0, append(append([]byte(magic), byte(len(f))), f...))
			editManifest(t, dir, func(m *Manifest) { m.Topics[1].Partitions[0].Records, m.Topics[1].Partitions[0].To = 1, 1 })
		}, "before 1970"},
		{"a FIFO for a file, which would block the open", func(t *testing.T, dir string) {
			f := filepath.Join(dir, "posts-0.records")
			must(t, os.Remove(f))
			must(t, syscall.Mkfifo(f, 0o600))
		}, "is not a regular file"},
		{"a symbolic link out of the folder", func(t *testing.T, dir string) {
			f := filepath.Join(dir, "likes-1.records")
			must(t, os.Remove(f))
			must(t, os.Symlink("/etc/passwd", f))
		}, "is not a regular file"},
		{"a manifest naming a file outside the folder", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Topics[0].Partitions[0].File = "../../etc/passwd" })
		}, `file name "../../etc/passwd"`},
		{"a manifest of another format", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Format = 2 })
		}, "manifest format 2"},
		{"a manifest missing likes", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Topics = m.Topics[:1] })
		}, "names 1 topics"},
		{"a manifest with more records than offsets", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m *Manifest) { m.Topics[0].Partitions[0].Records = 1000 })
		}, "1000 records"},
		{"a manifest with a field this version does not know", func(t *testing.T, dir string) {
			f := filepath.Join(dir, ManifestName)
			b := mustRead(t, f)
			must(t, os.WriteFile(f, bytes.Replace(b, []byte(`"format"`), []byte(`"compression":"zstd","format"`), 1), 0o600))
		}, `unknown field "compression"`},
		{"a manifest of 17 MiB", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, ManifestName), bytes.Repeat([]byte(" "), 17<<20), 0o600))
		}, "manifest over"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeBackup(t, 2, sample())
			if _, _, err := Verify(dir); err != nil {
				t.Fatalf("before breaking it: %v", err)
			}
			c.break_(t, dir)
			_, _, err := Verify(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Verify: %v, want an error containing %q", err, c.want)
			}
			if c.name != "no manifest: a backup that did not finish" && !errors.Is(err, ErrCorrupt) {
				t.Errorf("Verify: %v does not wrap ErrCorrupt", err)
			}
		})
	}
}

// TestKeepsForever: restore refuses posts or likes that would lose the
// restored records by time or compaction, naming the setting to change.
func TestKeepsForever(t *testing.T) {
	v := func(s string) *string { return &s }
	ok := []kadm.Config{{Key: "retention.ms", Value: v("-1")}, {Key: "cleanup.policy", Value: v("delete")},
		{Key: "message.timestamp.type", Value: v("CreateTime")}, {Key: "segment.ms", Value: v("604800000")}}
	if err := keepsForever("posts", ok); err != nil {
		t.Fatal(err)
	}
	for key, bad := range map[string]string{"retention.ms": "604800000", "cleanup.policy": "compact", "message.timestamp.type": "LogAppendTime"} {
		cs := slices.Clone(ok)
		for i := range cs {
			if cs[i].Key == key {
				cs[i].Value = v(bad)
			}
		}
		err := keepsForever("posts", cs)
		if err == nil || !strings.Contains(err.Error(), "posts has "+key+"="+bad) || !strings.Contains(err.Error(), "--add-config") {
			t.Errorf("%s=%s: %v", key, bad, err)
		}
	}
}

// TestTakeRefusesAFolderInUse: a backup never mixes its files with others.
func TestTakeRefusesAFolderInUse(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "old"), nil, 0o600))
	if err := emptyDir(dir); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("emptyDir of a folder with a file: %v", err)
	}
	if err := emptyDir(""); err == nil || !strings.Contains(err.Error(), "--backup-dir") {
		t.Fatalf("emptyDir(\"\"): %v", err)
	}
}

// TestOversizedRecordIsRefused: a record over MaxRecord stops the backup
// with an error naming it, rather than writing a file restore refuses.
func TestOversizedRecordIsRefused(t *testing.T) {
	w, err := newWriter(filepath.Join(t.TempDir(), "posts-0.records"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.f.Close()
	err = w.add(&kgo.Record{Topic: "posts", Offset: 9, Value: make([]byte, MaxRecord)})
	if err == nil || !strings.Contains(err.Error(), "posts/0@9") {
		t.Fatalf("add of a %d-byte record: %v", MaxRecord, err)
	}
}

// rewrite replaces a partition file and makes the manifest agree with it.
func rewrite(t *testing.T, dir string, topic, part int, content []byte) {
	t.Helper()
	var name string
	editManifest(t, dir, func(m *Manifest) {
		p := &m.Topics[topic].Partitions[part]
		name = p.File
		sum := sha256.Sum256(content)
		p.Bytes, p.SHA256 = int64(len(content)), hex.EncodeToString(sum[:])
	})
	must(t, os.WriteFile(filepath.Join(dir, name), content, 0o600))
}

func editManifest(t *testing.T, dir string, edit func(*Manifest)) {
	t.Helper()
	f := filepath.Join(dir, ManifestName)
	var m Manifest
	must(t, json.Unmarshal(mustRead(t, f), &m))
	edit(&m)
	b, err := json.Marshal(&m)
	must(t, err)
	must(t, os.WriteFile(f, b, 0o600))
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	must(t, err)
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
