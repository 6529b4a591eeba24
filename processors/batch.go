package processors

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/murmur2"
	"github.com/tagstream/tagstream/topology"
)

// partState is what the extractor keeps of one partition: the state of
// each post whose events are in it, and who likes each post.
type partState struct {
	posts map[string]events.PostState
	// raw holds states as restored, decoded on first use (post): a
	// restart's time went to decoding tens of thousands of states, most
	// of which no event touches soon after.
	raw    map[string][]byte
	likers map[string]map[string]struct{} // post key -> liker ids
}

func newPartState() *partState {
	return &partState{posts: map[string]events.PostState{}, raw: map[string][]byte{}, likers: map[string]map[string]struct{}{}}
}

// post returns key's state, decoding it if it is still raw. A state that
// does not decode is an error: without it, every later edit or delete of
// that post would count nothing, in silence.
func (s *partState) post(key string) (*events.PostState, error) {
	if v, ok := s.posts[key]; ok {
		return &v, nil
	}
	raw, ok := s.raw[key]
	if !ok {
		return nil, nil
	}
	var ps events.PostState
	if err := json.Unmarshal(raw, &ps); err != nil {
		BadStates.Inc()
		return nil, fmt.Errorf("processors: extractor: post %q: a state that does not decode: %w", key, err)
	}
	delete(s.raw, key)
	s.posts[key] = ps
	return &ps, nil
}

// size is the number of posts the partition knows.
func (s *partState) size() int { return len(s.posts) + len(s.raw) }

func (s *partState) likes(post, liker string) bool {
	_, ok := s.likers[post][liker]
	return ok
}

func (s *partState) setLike(post, liker string, on bool) {
	if on {
		if s.likers[post] == nil {
			s.likers[post] = map[string]struct{}{}
		}
		s.likers[post][liker] = struct{}{}
		return
	}
	delete(s.likers[post], liker)
	if len(s.likers[post]) == 0 {
		delete(s.likers, post)
	}
}

// batch is what one extractor transaction reads and writes. It applies the
// posts and likes records to the in-memory state as they come, and
// remembers each state's value before the batch so an aborted transaction
// can be rolled back to exactly what the changelog holds.
//
// Deltas are aggregated per (hashtag, partition): a hot hashtag costs one
// post-hashtags record per transaction, not one per post (topology.md,
// Internal records), and the sum is exact because the transaction is all
// or nothing. Post changes are coalesced per (hashtag, partition, post):
// the lists get each post's last state of the transaction once. Post
// states and likes are coalesced per key: the changelog gets the last
// value of each, once.
type batch struct {
	gen     topology.Gen
	records int
	// postsRead and likesRead are records read from each topic, counted
	// in RecordsIn once the transaction commits.
	postsRead, likesRead int
	seq                  int // events applied, in order: orders a transaction's changes
	deltas               map[deltaKey]*events.Delta
	order                []deltaKey // deterministic output order: first appearance
	changes              map[deltaKey]*hashtagChanges
	corder               []deltaKey
	at                   map[int32]*events.ChangeSource // the last posts and likes record read, per partition
	states               map[postKey]events.PostState
	before               map[postKey]*events.PostState // nil: the post was unknown
	likes                map[likerRef]bool             // whether the liker likes the post, after the batch
	liked                map[likerRef]bool             // and before it
	dead                 []*kgo.Record
	ignored              map[string]int
	reasons              map[string]int
	err                  error // a state that does not decode: the batch must not commit
}

func (b *batch) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

type deltaKey struct {
	hashtag   string
	partition int32
}

type postKey struct {
	partition int32
	key       string
}

type likerRef struct {
	partition   int32
	post, liker string
}

// hashtagChanges are the changes of one (hashtag, partition) in a batch:
// its posts in the order first touched, found by a scan while they are
// few (most hashtags get one or two posts a batch: a map each was 14 % of
// a counts-only worker's allocations under make bench's load) and by an
// index once they are many.
type hashtagChanges struct {
	display string
	posts   []touched
	index   map[string]int // postKey -> position in posts; nil while len(posts) <= indexAbove
}

const indexAbove = 8

// find returns the change of postKey, adding an empty one if it has none.
func (hc *hashtagChanges) find(postKey string) *touched {
	if hc.index != nil {
		if i, ok := hc.index[postKey]; ok {
			return &hc.posts[i]
		}
	} else {
		for i := range hc.posts {
			if hc.posts[i].postKey == postKey {
				return &hc.posts[i]
			}
		}
	}
	hc.posts = append(hc.posts, touched{postKey: postKey})
	switch n := len(hc.posts); {
	case n > indexAbove && hc.index == nil:
		hc.index = make(map[string]int, 2*n)
		for i := range hc.posts {
			hc.index[hc.posts[i].postKey] = i
		}
	case hc.index != nil:
		hc.index[postKey] = n - 1
	}
	return &hc.posts[len(hc.posts)-1]
}

// touched is a post's coalesced change, with the event that last touched
// it: its place in the batch and what the batch had read by then, and
// the size of the change's JSON (summaryBytes).
type touched struct {
	postKey string
	change  events.PostChange
	size    int
	seq     int
	src     events.ChangeSource
}

// sized is a post's summary with its summaryBytes: measured once per
// event, not once per hashtag (measuring the caption for each of a post's
// hashtags was 3 % of a counts-only worker's CPU under make bench's load).
type sized struct {
	events.PostSummary
	size int
}

func summarised(s events.PostSummary) sized { return sized{s, summaryBytes(s)} }

func newBatch(g topology.Gen) *batch {
	return &batch{
		gen:     g,
		deltas:  map[deltaKey]*events.Delta{},
		changes: map[deltaKey]*hashtagChanges{},
		at:      map[int32]*events.ChangeSource{},
		states:  map[postKey]events.PostState{},
		before:  map[postKey]*events.PostState{},
		likes:   map[likerRef]bool{},
		liked:   map[likerRef]bool{},
		ignored: map[string]int{},
		reasons: map[string]int{},
	}
}

// read notes that r is the last record read of its topic and partition.
func (b *batch) read(r *kgo.Record, likes bool) {
	b.records++
	b.seq++
	at, ok := b.at[r.Partition]
	if !ok {
		at = &events.ChangeSource{Partition: r.Partition, Posts: -1, Likes: -1}
		b.at[r.Partition] = at
	}
	if likes {
		at.Likes = r.Offset
		b.likesRead++
	} else {
		at.Posts = r.Offset
		b.postsRead++
	}
}

// add applies one posts record to the state of its partition.
func (b *batch) add(st *partState, r *kgo.Record) {
	b.read(r, false)
	e, err := events.DecodePostEvent(string(r.Key), r.Value)
	var keys, display []string
	if err == nil && e.Type != events.PostDeleted {
		keys, display, err = hashtag.ValidateWithDisplay(e.Caption)
	}
	if err != nil {
		b.deadLetter(r, err)
		return
	}
	if e.TS.IsZero() {
		e.TS = r.Timestamp.UTC()
	}
	key := events.PostKey(e.UserID, e.PostID)
	prev, err := st.post(key)
	if err != nil {
		b.fail(err)
		return
	}
	next, changes, kind := apply(prev, e, keys, display)
	if kind != "" {
		b.ignored[kind]++
		return
	}
	b.setState(st, r.Partition, key, prev, next)
	for _, c := range changes {
		dk := deltaKey{c.Key, r.Partition}
		d, ok := b.deltas[dk]
		if !ok {
			d = &events.Delta{Hashtag: c.Key, Display: c.Display}
			b.deltas[dk] = d
			b.order = append(b.order, dk)
		}
		d.Delta += c.Sign
		d.Source = events.Source{Partition: r.Partition, Offset: r.Offset}
	}
	// Every list of every hashtag the post had or has hears of it: the
	// ones it left (-1), joined (+1) or stays in with a new caption.
	sum := summarised(next.Summary(e.UserID, e.PostID))
	for _, c := range changes {
		b.touch(c.Key, c.Display, r.Partition, key, sum, c.Sign > 0, c.Sign)
	}
	for i, k := range next.Keys {
		if !slices.ContainsFunc(changes, func(c Change) bool { return c.Key == k }) {
			b.touch(k, next.Display[i], r.Partition, key, sum, true, 0)
		}
	}
	if next.Deleted {
		// A deleted post's likes go with it: they could never count again.
		for liker := range st.likers[key] {
			b.setLike(st, likerRef{r.Partition, key, liker}, false)
		}
	}
}

// addLike applies one likes record to the state of its partition, and
// reports whether it did: with unknownWaits, a like of a post the
// partition does not know is left for later (order.go) and the batch is
// as it was.
func (b *batch) addLike(st *partState, r *kgo.Record, unknownWaits bool) (applied bool) {
	e, err := events.DecodeLikeEvent(string(r.Key), r.Value)
	key := events.PostKey(e.UserID, e.PostID)
	prev, perr := st.post(key)
	if perr != nil {
		b.fail(perr)
		return true
	}
	if prev == nil && err == nil && unknownWaits {
		return false
	}
	b.read(r, true)
	if err != nil {
		b.deadLetter(r, err)
		return true
	}
	next, kind := applyLike(prev, e, st.likes(key, e.LikerID))
	if kind != "" {
		b.ignored[kind]++
		return true
	}
	b.setState(st, r.Partition, key, prev, next)
	b.setLike(st, likerRef{r.Partition, key, e.LikerID}, e.Type == events.Liked)
	sum := summarised(next.Summary(e.UserID, e.PostID))
	for i, k := range next.Keys {
		b.touch(k, next.Display[i], r.Partition, key, sum, true, 0)
	}
	return true
}

func (b *batch) setState(st *partState, p int32, key string, prev *events.PostState, next events.PostState) {
	pk := postKey{p, key}
	if _, seen := b.before[pk]; !seen {
		b.before[pk] = prev
	}
	st.posts[key] = next
	b.states[pk] = next
}

func (b *batch) setLike(st *partState, ref likerRef, on bool) {
	if _, seen := b.liked[ref]; !seen {
		b.liked[ref] = st.likes(ref.post, ref.liker)
	}
	st.setLike(ref.post, ref.liker, on)
	b.likes[ref] = on
}

// touch records the post's state with respect to one hashtag after the
// current event: its summary, whether it carries the hashtag, and n, the
// change of its membership.
// postKey is sum.Key(), which the caller has: building it twice per
// hashtag was 4.7 % of a worker's CPU under make bench's load.
func (b *batch) touch(key, display string, p int32, postKey string, sum sized, live bool, n int64) {
	dk := deltaKey{key, p}
	hc, ok := b.changes[dk]
	if !ok {
		hc = &hashtagChanges{display: display}
		b.changes[dk] = hc
		b.corder = append(b.corder, dk)
	}
	t := hc.find(postKey)
	if !live {
		// A list drops a post that left: it needs the post's identity,
		// creation time (its trending minute) and revision only.
		sum = summarised(events.PostSummary{PostID: sum.PostID, UserID: sum.UserID, CreatedAt: sum.CreatedAt, Rev: sum.Rev})
	}
	t.change.Post, t.size, t.change.Live, t.change.N = sum.PostSummary, sum.size, live, t.change.N+n
	t.seq, t.src = b.seq, *b.at[p]
}

func (b *batch) deadLetter(r *kgo.Record, err error) {
	reason := events.Reason(err)
	var limit *hashtag.LimitError
	if errors.As(err, &limit) {
		reason = "limit"
	}
	b.reasons[reason]++
	v, _ := json.Marshal(events.NewDeadLetter(string(b.gen.Extractor()), r.Topic, r.Partition, r.Offset,
		r.Key, r.Value, reason, err, time.Now()))
	b.dead = append(b.dead, &kgo.Record{Topic: b.gen.NS.DeadLetters(), Key: events.DeadLetterKey(r.Key), Value: v})
}

// output returns the records the transaction writes: the non-zero deltas,
// the post changes, the last state of each post touched and each like
// changed (to the table partition of the partition it came from, so a
// partition's owner restores exactly the posts it owns) and the dead
// letters. Partitions are murmur2 of the key, as every producer of these
// topics must use.
func (b *batch) output(partitions int32) []*kgo.Record {
	out := make([]*kgo.Record, 0, len(b.order)+len(b.corder)+len(b.states)+len(b.likes)+len(b.dead))
	for _, dk := range b.order {
		d := b.deltas[dk]
		if d.Delta == 0 {
			continue // +1 and -1 within one transaction: nothing to count
		}
		v, _ := events.Marshal(d)
		out = append(out, &kgo.Record{Topic: b.gen.PostHashtags(), Key: []byte(d.Hashtag), Value: v,
			Partition: murmur2.Partition([]byte(d.Hashtag), partitions)})
	}
	var scratch changesScratch
	topic := b.gen.PostChanges()
	for _, dk := range b.corder {
		key := []byte(dk.hashtag)
		p := murmur2.Partition(key, partitions)
		b.changes[dk].records(dk, &scratch, func(pc *events.PostChanges) {
			v, _ := events.Marshal(*pc)
			out = append(out, &kgo.Record{Topic: topic, Key: key, Value: v, Partition: p})
		})
	}
	for pk, s := range b.states {
		v, _ := events.Marshal(s)
		out = append(out, &kgo.Record{Topic: b.gen.ExtractorTable(), Key: []byte(pk.key), Value: v, Partition: pk.partition})
	}
	for ref, on := range b.likes {
		if on == b.liked[ref] {
			continue // liked and unliked within the batch: the table already says so
		}
		var v []byte
		if on {
			v = likedValue
		}
		out = append(out, &kgo.Record{Topic: b.gen.ExtractorTable(), Key: []byte(events.LikerKey(ref.post, ref.liker)),
			Value: v, Partition: ref.partition})
	}
	for _, r := range b.dead {
		r.Partition = murmur2.Partition(r.Key, partitions)
		out = append(out, r)
	}
	return out
}

// likedValue is the table value of a like: its key says everything, and a
// tombstone (nil) takes it back.
var likedValue = []byte("1")

// records cuts the changes of one (hashtag, partition) into PostChanges
// records of about events.ChangesChunkBytes, in the order their posts were
// last touched, each with the source of its last change: so each record
// ends at a later input record than the one before, and a consumer's
// watermark tells every record of this batch from any earlier one
// (events.ChangeSource). emit gets each record, valid until it returns:
// its slices are s's, reused for the next (they were 12 % of a counts-only
// worker's allocations).
func (hc *hashtagChanges) records(dk deltaKey, s *changesScratch, emit func(*events.PostChanges)) {
	ts := s.ts[:0]
	for i := range hc.posts {
		if t := &hc.posts[i]; t.change.N != 0 || t.change.Live {
			ts = append(ts, t) // (joined and left within the batch: no list ever had it)
		}
	}
	slices.SortFunc(ts, func(a, b *touched) int { return a.seq - b.seq })
	pc := events.PostChanges{Hashtag: dk.hashtag, Display: hc.display, Changes: s.changes[:0]}
	size := 0
	for _, t := range ts {
		if size >= events.ChangesChunkBytes {
			emit(&pc)
			pc.Changes, size = pc.Changes[:0], 0
		}
		pc.Changes = append(pc.Changes, t.change)
		pc.Source = t.src
		size += t.size
	}
	if len(pc.Changes) > 0 {
		emit(&pc)
	}
	s.ts, s.changes = ts[:0], pc.Changes[:0]
}

// changesScratch is the reused memory of records.
type changesScratch struct {
	ts      []*touched
	changes []events.PostChange
}

// summaryBytes bounds the JSON size of a change of s: the fixed fields,
// the ids and the caption as encoding/json escapes it.
func summaryBytes(s events.PostSummary) int {
	return 200 + len(s.PostID) + len(s.UserID) + len(s.ImageID) + jsonBytes(s.Caption)
}

// jsonBytes bounds the length of s as a JSON string body: control
// characters and <, >, & become \u00XX (6 bytes), " and \ two, U+2028
// and U+2029 six (counted on their lead byte 0xE2, whose other characters
// are overestimated).
func jsonBytes(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			n += 6
		case c == '"' || c == '\\':
			n += 2
		case c == 0xE2:
			n += 4
		default:
			n++
		}
	}
	return n
}

// rollback undoes the batch on the in-memory states after an abort.
// Partitions revoked meanwhile are gone from states and stay gone.
func (b *batch) rollback(states map[int32]*partState) {
	for pk, prev := range b.before {
		st, ok := states[pk.partition]
		if !ok {
			continue
		}
		if prev == nil {
			delete(st.posts, pk.key)
		} else {
			st.posts[pk.key] = *prev
		}
	}
	for ref, was := range b.liked {
		if st, ok := states[ref.partition]; ok {
			st.setLike(ref.post, ref.liker, was)
		}
	}
}

// committed counts the batch's outcomes once they are durable.
func (b *batch) committed() {
	for kind, n := range b.ignored {
		Ignored.Add(int64(n), kind)
	}
	for reason, n := range b.reasons {
		DeadLetters.Add(int64(n), string(b.gen.Extractor()), reason)
	}
}
