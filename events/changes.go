package events

import (
	"fmt"
	"time"

	"github.com/tagstream/tagstream/ids"
)

// MaxPostChangesBytes bounds a post-changes record. The extractor cuts its
// records at ChangesChunkBytes; the limit leaves room for one summary past
// the cut and stays under Kafka's default message.max.bytes.
const (
	MaxPostChangesBytes = 900 << 10
	ChangesChunkBytes   = 256 << 10
)

// PostChanges is a record of post-changes, keyed by the normalised
// hashtag: what changed, within one extractor transaction, of the posts
// with this hashtag (or that just lost it) whose events are in one
// posts/likes partition. The hashtag's lists (recent, top, rank, trending)
// are built from these records alone.
type PostChanges struct {
	Hashtag string `json:"hashtag"`
	// Display is how the hashtag was first written among these posts.
	Display string       `json:"display"`
	Changes []PostChange `json:"changes"`
	Source  ChangeSource `json:"src"`
}

// PostChange is the state of one post with respect to one hashtag after
// a transaction: the post's summary (its last state within the
// transaction), whether it now carries the hashtag, and N, the net number
// of times it gained the hashtag (+1 created or edited in, -1 deleted or
// edited out, 0 a caption change or a like). A post that gained and lost the
// hashtag within one transaction has N 0 and Live false.
type PostChange struct {
	Post PostSummary `json:"post"`
	Live bool        `json:"live"`
	N    int64       `json:"n,omitempty"`
}

// ChangeSource locates a post-changes record in the extractor's input:
// Posts and Likes are the offsets of the last posts and likes records of
// Partition the transaction had read when the record was cut (-1: none of
// that topic yet in this transaction).
//
// Invariant: of two records of one (hashtag, partition), the later one has
// a component above every earlier record's. A transaction reads later
// records than the transactions before it, and the extractor cuts a
// transaction's changes in the order it read their events, each record
// ending at a later record than the one before. So a consumer that keeps,
// per partition, the largest Posts and Likes it applied (ChangeWatermark)
// recognises a record it has already applied: both components at or below
// the watermark.
type ChangeSource struct {
	Partition int32 `json:"p"`
	Posts     int64 `json:"o"`
	Likes     int64 `json:"l"`
}

// ChangeWatermark is what a consumer of post-changes keeps per partition:
// the largest Posts and Likes offsets applied.
type ChangeWatermark struct {
	Posts int64 `json:"o"`
	Likes int64 `json:"l"`
}

// ChangeWatermarks maps a partition to its watermark.
type ChangeWatermarks map[int32]ChangeWatermark

// Applied reports whether src is at or below the watermark of its
// partition: a record re-read after a crash or a rebalance.
func (w ChangeWatermarks) Applied(src ChangeSource) bool {
	m, ok := w[src.Partition]
	return ok && src.Posts <= m.Posts && src.Likes <= m.Likes
}

// Advance returns w with src applied (w is not modified: a callback's
// previous value must stay intact).
func (w ChangeWatermarks) Advance(src ChangeSource) ChangeWatermarks {
	out := make(ChangeWatermarks, len(w)+1)
	for p, m := range w {
		out[p] = m
	}
	m, ok := out[src.Partition]
	if !ok {
		m = ChangeWatermark{Posts: -1, Likes: -1}
	}
	m.Posts, m.Likes = max(m.Posts, src.Posts), max(m.Likes, src.Likes)
	out[src.Partition] = m
	return out
}

// DecodePostChanges parses a post-changes record and checks it against its
// key: every change names a post by valid ids.
func DecodePostChanges(key string, b []byte) (PostChanges, error) {
	if err := checkJSON(b, MaxPostChangesBytes); err != nil {
		return PostChanges{}, err
	}
	c, ok := scanPostChanges(b)
	if !ok {
		c = PostChanges{}
		if err := unmarshalJSON(b, &c); err != nil {
			return c, err
		}
	}
	if c.Hashtag == "" {
		return c, &DecodeError{ReasonMissing, "hashtag"}
	}
	if key != c.Hashtag {
		return c, &DecodeError{ReasonKeyMismatch, fmt.Sprintf("record key %q is not hashtag %q", key, c.Hashtag)}
	}
	if len(c.Changes) == 0 {
		return c, &DecodeError{ReasonMissing, "changes"}
	}
	s := c.Source
	if s.Partition < 0 || s.Posts < -1 || s.Likes < -1 || (s.Posts < 0 && s.Likes < 0) {
		return c, &DecodeError{ReasonInvalid, fmt.Sprintf("src %d/%d/%d names no posts or likes record", s.Partition, s.Posts, s.Likes)}
	}
	for i, ch := range c.Changes {
		// The field's name is only formatted for an error: it cost 9 % of
		// a decode when every change paid for it.
		if !ids.Valid(ch.Post.PostID) {
			return c, checkID(fmt.Sprintf("changes[%d].post.post_id", i), ch.Post.PostID)
		}
		if !ids.Valid(ch.Post.UserID) {
			return c, checkID(fmt.Sprintf("changes[%d].post.user_id", i), ch.Post.UserID)
		}
		if ch.N < -1 || ch.N > 1 {
			return c, &DecodeError{ReasonInvalid, fmt.Sprintf("changes[%d].n %d is not -1, 0 or 1", i, ch.N)}
		}
		if ch.Post.LikeCount < 0 {
			return c, &DecodeError{ReasonInvalid, fmt.Sprintf("changes[%d].post.like_count %d", i, ch.Post.LikeCount)}
		}
	}
	return c, nil
}

// Minute is a post's creation minute: the bucket of the trending windows.
func Minute(t time.Time) int64 { return t.Unix() / 60 }
