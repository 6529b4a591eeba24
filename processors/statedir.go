package processors

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/journal"
)

// With --state-dir, the extractor keeps a journal (package journal) of each
// extractor-table partition it owns, so a restarted worker loads its post
// states from disk and reads only the changelog's tail, where it used to
// read the whole partition (seconds for a few tens of thousands of posts,
// while the partition's deletes wait).
//
// The journal holds only committed records: those read at restore
// (read_committed) and a transaction's own records after it committed,
// with the offsets the broker gave them. So it is always a prefix of the
// committed changelog, whatever moment a SIGKILL picks, and the changelog
// from its end completes it. A partition that moved to another worker and
// back is completed the same way: the other worker's records are in the
// tail.

func stateJournalPath(dir, table string, p int32) string {
	return filepath.Join(dir, "extractor", table, strconv.Itoa(int(p))+".journal")
}

// openStateJournal opens partition p's journal and loads it into st. It
// returns the offset to read the changelog from. A journal that ends at or
// past the changelog's end (the topic was recreated) or before its start
// (records Kafka no longer has) is not a prefix of this changelog: it is
// emptied and the whole partition read.
func openStateJournal(dir, table string, p int32, start, end int64, st *partState) (*journal.Journal, int64, error) {
	path := stateJournalPath(dir, table, p)
	j, l, err := journal.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("processors: extractor: %w", err)
	}
	if !l.Fits(start, end) {
		slog.Warn("extractor journal is not a prefix of its changelog; reading the whole partition",
			"path", path, "journal_offset", l.Offset, "changelog_start", start, "changelog_end", end)
		if err := j.Reset(); err != nil {
			_ = j.Close()
			return nil, 0, fmt.Errorf("processors: extractor: %w", err)
		}
		l = journal.Loaded{Offset: -1}
	}
	for k, v := range l.Values {
		applyState(st, k, v)
	}
	return j, l.Offset + 1, nil
}

// journalCommitted appends a committed transaction's extractor-table
// records to their partitions' journals, in offset order, and compacts a
// journal that has grown enough: right after a commit, the in-memory state
// equals the journal.
func (x *extractor) journalCommitted(out []*kgo.Record) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.journals) == 0 {
		return
	}
	table := x.o.Gen.ExtractorTable()
	byPart := map[int32][]*kgo.Record{}
	for _, r := range out {
		if r.Topic == table && x.journals[r.Partition] != nil {
			byPart[r.Partition] = append(byPart[r.Partition], r)
		}
	}
	for p, rs := range byPart {
		slices.SortFunc(rs, func(a, b *kgo.Record) int { return cmp.Compare(a.Offset, b.Offset) })
		j := x.journals[p]
		for _, r := range rs {
			if err := j.Append(string(r.Key), r.Value, r.Offset); err != nil {
				x.dropJournal(p, err)
				break
			}
		}
	}
	for p, j := range x.journals {
		if j.NeedsCompaction() {
			if err := j.Compact(x.states[p].each); err != nil {
				x.dropJournal(p, err)
			}
		}
	}
}

// dropJournal stops journaling partition p after a write failed: the file
// keeps its intact prefix, and the next start reads the rest from Kafka.
func (x *extractor) dropJournal(p int32, err error) {
	slog.Error("extractor journal write failed; partition goes on without it", "partition", p, "err", err)
	_ = x.journals[p].Close()
	delete(x.journals, p)
}

func (x *extractor) closeJournals() {
	x.mu.Lock()
	defer x.mu.Unlock()
	closeAll(x.journals)
	clear(x.journals)
}

func (x *extractor) closeJournalsLocked(parts []int32) {
	for _, p := range parts {
		if j := x.journals[p]; j != nil {
			_ = j.Close()
			delete(x.journals, p)
		}
	}
}

func closeAll(js map[int32]*journal.Journal) {
	for _, j := range js {
		_ = j.Close()
	}
}

// each yields the partition's state as extractor-table records.
func (s *partState) each(yield func(key string, value []byte) error) error {
	for k, ps := range s.posts {
		v, err := json.Marshal(ps)
		if err != nil {
			return err
		}
		if err := yield(k, v); err != nil {
			return err
		}
	}
	for k, v := range s.raw {
		if err := yield(k, v); err != nil {
			return err
		}
	}
	for post, likers := range s.likers {
		for l := range likers {
			if err := yield(events.LikerKey(post, l), likedValue); err != nil {
				return err
			}
		}
	}
	return nil
}
