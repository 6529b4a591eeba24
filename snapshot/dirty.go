package snapshot

import (
	"strings"
	"time"

	"github.com/tagstream/tagstream/events"
)

// partition names one changelog partition.
type partition struct {
	topic string
	part  int32
}

// group is a column group of a hashtags row: the columns the values of
// one table fill. A flush writes only the groups that changed, and a
// tombstone deletes only its own group.
type group int

const (
	groupCount  group = iota // display, post_count, updated_at: hashtag-counts-table
	groupTop                 // top_posts, computed_at, top_updated_at: hashtag-top-table
	groupRecent              // recent_posts, recent_updated_at: hashtag-recent-table
	groups                   // how many there are
)

// String names the group as the rows_written metric does.
func (g group) String() string { return [groups]string{"count", "top", "recent"}[g] }

// change is the latest value of one column group of one hashtag, or of
// one trending partial. Exactly one of the value fields is set, unless
// the change is a tombstone.
type change struct {
	ts      int64 // WriteTimestamp of the record
	deleted bool  // a tombstone: the table deleted the key
	src     partition
	count   *countColumns
	top     *topColumns
	recent  *recentColumns
	partial *events.TrendingPartial
}

// countColumns is the part of a hashtag-counts-table value (events.Count)
// the snapshot stores. Other fields, such as the counter's per-source
// watermarks ("w"), are not decoded: the dirty set holds no more than a
// row needs.
type countColumns struct {
	Display   string    `json:"display"`
	PostCount int64     `json:"post_count"`
	UpdatedAt time.Time `json:"updated_at"`
}

// topColumns is the part of a hashtag-top-table value (events.Top) the
// snapshot stores: the list and its times, not the posts it remembers as
// removed nor its watermarks, which only the processor needs.
type topColumns struct {
	TopPosts   []events.PostSummary `json:"top_posts"`
	ComputedAt time.Time            `json:"computed_at"`
	UpdatedAt  time.Time            `json:"updated_at"`
}

// recentColumns is the part of a hashtag-recent-table value
// (events.Recent) the snapshot stores. Posts holds the first
// events.RecentShown only (cut by decode): the page shows no more, and the
// rest is the processor's reserve for posts that leave.
type recentColumns struct {
	Posts     []events.PostSummary `json:"posts"`
	UpdatedAt time.Time            `json:"updated_at"`
}

// pending is what a hashtag's row needs written: each group is nil when
// that group has not changed since the last flush.
type pending [groups]*change

// empty reports whether no group is pending.
func (p *pending) empty() bool { return *p == pending{} }

// columns names the groups pending, joined by "+" in group order: the
// label of the rows_written metric, one value per row written.
func (p pending) columns() string {
	var names []string
	for g, c := range p {
		if c != nil {
			names = append(names, group(g).String())
		}
	}
	return strings.Join(names, "+")
}

// batch is what one flush writes: the rows and partials, then the
// offsets they cover.
type batch struct {
	rows     map[string]pending
	partials map[int32]*change   // by the partition of the trending table
	offsets  map[partition]int64 // next offset to read
}

// dirtySet holds the hashtags changed since the last flush, with only the
// latest value of each column group, the latest trending partials, and
// the positions of the owned partitions. Its size is bounded by the
// number of distinct hashtags (and partitions of the trending table), not
// by the number of records. It is not safe for concurrent use.
type dirtySet struct {
	rows     map[string]*pending
	partials map[int32]*change
	pos      map[partition]int64 // next offset to read, per owned partition
	flushed  map[partition]int64 // next offset stored in Cassandra
}

func newDirtySet() *dirtySet {
	return &dirtySet{rows: map[string]*pending{}, partials: map[int32]*change{},
		pos: map[partition]int64{}, flushed: map[partition]int64{}}
}

// assign records that p is owned and starts at next, already flushed.
func (d *dirtySet) assign(p partition, next int64) {
	d.pos[p] = next
	d.flushed[p] = next
}

// seen advances the position of p past a record that changes nothing
// (an unreadable one).
func (d *dirtySet) seen(p partition, offset int64) {
	if next := offset + 1; next > d.pos[p] {
		d.pos[p] = next
	}
}

// newer puts c in *slot unless the change held there is newer: a re-read
// of an older record, or a restored one a newer change replaced.
func newer(slot **change, c *change) {
	if *slot == nil || (*slot).ts < c.ts {
		*slot = c
	}
}

// add records the change of group g of key, read at offset of its
// partition.
func (d *dirtySet) add(key string, g group, c *change, offset int64) {
	d.seen(c.src, offset)
	d.put(key, g, c)
}

func (d *dirtySet) put(key string, g group, c *change) {
	p := d.rows[key]
	if p == nil {
		p = &pending{}
		d.rows[key] = p
	}
	newer(&p[g], c)
}

// addPartial records the change of the trending partial of partition part
// of the trending table, read at offset of its partition.
func (d *dirtySet) addPartial(part int32, c *change, offset int64) {
	d.seen(c.src, offset)
	d.putPartial(part, c)
}

func (d *dirtySet) putPartial(part int32, c *change) {
	slot := d.partials[part]
	newer(&slot, c)
	d.partials[part] = slot
}

// take empties the set and returns what it held, with the position of
// every partition that moved since its last flush.
func (d *dirtySet) take() batch {
	b := batch{rows: make(map[string]pending, len(d.rows)), partials: d.partials, offsets: map[partition]int64{}}
	for k, p := range d.rows {
		b.rows[k] = *p
	}
	clear(d.rows)
	d.partials = map[int32]*change{}
	for p, next := range d.pos {
		if next > d.flushed[p] {
			b.offsets[p] = next
		}
	}
	return b
}

// restore puts back rows and partials a flush did not write, unless newer
// changes arrived meanwhile.
func (d *dirtySet) restore(rows map[string]pending, partials map[int32]*change) {
	for k, r := range rows {
		for g, c := range r {
			if c != nil {
				d.put(k, group(g), c)
			}
		}
	}
	for part, c := range partials {
		d.putPartial(part, c)
	}
}

// markFlushed records offsets as stored, for partitions still owned.
func (d *dirtySet) markFlushed(offsets map[partition]int64) {
	for p, next := range offsets {
		if f, ok := d.flushed[p]; ok && next > f {
			d.flushed[p] = next
		}
	}
}

// drop forgets partitions this process no longer owns, and their pending
// changes: their new owner resumes from the offsets stored in Cassandra,
// which only ever cover written rows.
func (d *dirtySet) drop(parts map[partition]bool) {
	for p := range parts {
		delete(d.pos, p)
		delete(d.flushed, p)
	}
	for k, r := range d.rows {
		for g, c := range r {
			if c != nil && parts[c.src] {
				r[g] = nil
			}
		}
		if r.empty() {
			delete(d.rows, k)
		}
	}
	for part, c := range d.partials {
		if parts[c.src] {
			delete(d.partials, part)
		}
	}
}

// len is the number of hashtags and partials waiting for a write.
func (d *dirtySet) len() int { return len(d.rows) + len(d.partials) }
