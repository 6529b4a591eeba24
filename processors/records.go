package processors

import (
	"sync"
	"sync/atomic"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/metrics"
)

// RecordsIn and RecordsOut count the records each group consumes and
// writes, by topic: a group's table writes count under its table's
// topic (<group>-table). The extractor, which is no goka group, counts
// its own (transact.go).
var (
	RecordsIn = metrics.Default.NewCounterVec("tagstream_records_consumed_total",
		"Records a processor consumed, by group and topic.", "group", "topic")
	RecordsOut = metrics.Default.NewCounterVec("tagstream_records_produced_total",
		"Records a processor wrote, by group and topic (a group table's writes under <group>-table).", "group", "topic")
)

// recordCells keeps the counters of each (group, topic), so that a
// record costs a map read and an atomic add, not a label join and a lock.
type recordCells struct {
	vec   *metrics.CounterVec
	cells sync.Map // [2]string -> *atomic.Int64
}

func (r *recordCells) add(group, topic string) {
	k := [2]string{group, topic}
	c, ok := r.cells.Load(k)
	if !ok {
		c, _ = r.cells.LoadOrStore(k, r.vec.Cell(group, topic))
	}
	c.(*atomic.Int64).Add(1)
}

var cellsIn, cellsOut = &recordCells{vec: RecordsIn}, &recordCells{vec: RecordsOut}

// gokaContext lets counted embed goka.Context under a name other than
// Context, which is one of its methods.
type gokaContext = goka.Context

// counted is a goka context that counts what its callback writes.
type counted struct {
	gokaContext
	group string
}

func (c counted) Emit(topic goka.Stream, key string, value any, options ...goka.ContextOption) {
	cellsOut.add(c.group, string(topic))
	c.gokaContext.Emit(topic, key, value, options...)
}

func (c counted) SetValue(value any, options ...goka.ContextOption) {
	cellsOut.add(c.group, c.group+"-table")
	c.gokaContext.SetValue(value, options...)
}

func (c counted) Delete(options ...goka.ContextOption) {
	cellsOut.add(c.group, c.group+"-table")
	c.gokaContext.Delete(options...)
}

func (c counted) Loopback(key string, value any, options ...goka.ContextOption) {
	cellsOut.add(c.group, c.group+"-loop")
	c.gokaContext.Loopback(key, value, options...)
}

// countRecords makes a goka callback count the record it consumes and
// the records it writes.
func countRecords(cb goka.ProcessCallback) goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		g := string(ctx.Group())
		cellsIn.add(g, string(ctx.Topic()))
		cb(counted{gokaContext: ctx, group: g}, msg)
	}
}

// countCommitted counts what a committed extractor batch read and wrote:
// an aborted one is read again, and would count twice.
func countCommitted(b *batch, out []*kgo.Record) {
	g := string(b.gen.Extractor())
	RecordsIn.Add(int64(b.postsRead), g, b.gen.NS.Posts())
	RecordsIn.Add(int64(b.likesRead), g, b.gen.NS.Likes())
	for _, r := range out {
		cellsOut.add(g, r.Topic)
	}
}
