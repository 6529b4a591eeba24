package snapshot

import (
	"time"

	"github.com/tagstream/tagstream/events"
)

// partition names one changelog partition.
type partition struct {
	topic string
	part  int32
}

// change is the latest value of one column group of one hashtag: the count
// columns (from the counts changelog) or the top-posts columns (from the
// top changelog).
type change struct {
	ts      int64 // WriteTimestamp of the record
	deleted bool  // a tombstone: the table deleted the key
	src     partition
	count   countColumns
	top     events.Top
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

// pending is what a hashtag's row needs written: each group is nil when
// that group has not changed since the last flush.
type pending struct {
	count, top *change
}

// batch is what one flush writes: the rows, then the offsets they cover.
type batch struct {
	rows    map[string]pending
	offsets map[partition]int64 // next offset to read
}

// dirtySet holds the hashtags changed since the last flush, with only the
// latest value of each column group, and the positions of the owned
// partitions. Its size is bounded by the number of distinct hashtags, not
// by the number of records. It is not safe for concurrent use.
type dirtySet struct {
	rows    map[string]*pending
	pos     map[partition]int64 // next offset to read, per owned partition
	flushed map[partition]int64 // next offset stored in Cassandra
}

func newDirtySet() *dirtySet {
	return &dirtySet{rows: map[string]*pending{}, pos: map[partition]int64{}, flushed: map[partition]int64{}}
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

// add records the change of one group of key, read at offset of its
// partition. An older change than the one held (a re-read) is ignored.
func (d *dirtySet) add(key string, top bool, c *change, offset int64) {
	d.seen(c.src, offset)
	p := d.rows[key]
	if p == nil {
		p = &pending{}
		d.rows[key] = p
	}
	slot := &p.count
	if top {
		slot = &p.top
	}
	if *slot == nil || (*slot).ts < c.ts {
		*slot = c
	}
}

// take empties the set and returns what it held, with the position of
// every partition that moved since its last flush.
func (d *dirtySet) take() batch {
	b := batch{rows: make(map[string]pending, len(d.rows)), offsets: map[partition]int64{}}
	for k, p := range d.rows {
		b.rows[k] = *p
	}
	clear(d.rows)
	for p, next := range d.pos {
		if next > d.flushed[p] {
			b.offsets[p] = next
		}
	}
	return b
}

// restore puts back rows a flush did not write, unless newer changes
// arrived meanwhile.
func (d *dirtySet) restore(rows map[string]pending) {
	for k, r := range rows {
		p := d.rows[k]
		if p == nil {
			p = &pending{}
			d.rows[k] = p
		}
		if r.count != nil && (p.count == nil || p.count.ts < r.count.ts) {
			p.count = r.count
		}
		if r.top != nil && (p.top == nil || p.top.ts < r.top.ts) {
			p.top = r.top
		}
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
		if r.count != nil && parts[r.count.src] {
			r.count = nil
		}
		if r.top != nil && parts[r.top.src] {
			r.top = nil
		}
		if r.count == nil && r.top == nil {
			delete(d.rows, k)
		}
	}
}

// len is the number of hashtags waiting for a write.
func (d *dirtySet) len() int { return len(d.rows) }
