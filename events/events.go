// Package events holds the records that travel on tagstream's topics and
// the codecs goka uses to put them on the wire.
//
// External topics (posts, hashtag-top-posts) carry JSON documented field by
// field in topology.md, so that any Kafka client can produce them. Their
// decoders are strict about what tagstream needs and lenient about what it
// does not (unknown fields are ignored), and report every rejection as a
// *DecodeError so the processors can dead-letter the record with a reason.
package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tagstream/tagstream/ids"
)

// Size limits of records on the input topics. A record over its limit is
// dead-lettered rather than processed: one oversized post must not be able
// to bloat every table it touches.
const (
	// MaxPostEventBytes bounds a PostEvent record. A caption is at most
	// 2,200 characters (≤ 8.8 KB of UTF-8); 64 KiB leaves room for JSON
	// escaping and future fields, and matches the API's body limit.
	MaxPostEventBytes = 64 << 10
	// MaxTopPostsBytes bounds a top-posts document: 100 summaries with
	// captions of up to 2,200 characters of up to 4 bytes (880 KB at
	// worst). It stays under what producers and brokers take by default
	// (sarama's 1,000,000 bytes, Kafka's message.max.bytes of 1 MiB), so a
	// document at the limit can be published at all.
	MaxTopPostsBytes = 900 << 10
	// MaxDeltaBytes bounds a post-hashtags record: a key of at most
	// hashtag.MaxKeyBytes, a display form of at most 100 characters.
	MaxDeltaBytes = 8 << 10
	// MaxTopPosts is the length of a hashtag's top list.
	MaxTopPosts = 100
)

// PostEventType says what happened to a post.
type PostEventType string

// The post event types. Any other value is rejected.
const (
	PostCreated PostEventType = "created"
	PostEdited  PostEventType = "edited"
	PostDeleted PostEventType = "deleted"
)

// PostEvent is a record of the posts topic, keyed by user_id.
type PostEvent struct {
	Type    PostEventType `json:"type"`
	PostID  string        `json:"post_id"`
	UserID  string        `json:"user_id"`
	ImageID string        `json:"image_id,omitempty"`
	Caption string        `json:"caption,omitempty"`
	TS      time.Time     `json:"ts"`
}

// DecodeError says why a record could not be used. Reason is short and
// stable enough to be a metric label; Detail says what exactly was wrong.
type DecodeError struct {
	Reason string
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return "events: " + e.Reason
	}
	return "events: " + e.Reason + ": " + e.Detail
}

// Reasons carried by DecodeError and by dead letters.
const (
	ReasonTooLarge    = "too_large"
	ReasonBadJSON     = "bad_json"
	ReasonMissing     = "missing_field"
	ReasonInvalid     = "invalid_field"
	ReasonKeyMismatch = "key_mismatch"
)

// Reason returns the DecodeError reason of err, or "error" for any other error.
func Reason(err error) string {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return "error"
}

func decodeJSON(b []byte, max int, v any) error {
	if err := checkJSON(b, max); err != nil {
		return err
	}
	// A record that scans itself (scan.go) and scans whole is the value
	// encoding/json would give; one it declines is left to encoding/json.
	if sc, ok := v.(jsonScanner); ok && sc.scanJSON(b) {
		return nil
	}
	return unmarshalJSON(b, v)
}

// checkJSON refuses what no decoder may read: more than max bytes, or
// bytes that are not UTF-8.
func checkJSON(b []byte, max int) error {
	if len(b) > max {
		return &DecodeError{ReasonTooLarge, fmt.Sprintf("%d bytes, limit %d", len(b), max)}
	}
	if !utf8.Valid(b) {
		return &DecodeError{ReasonBadJSON, "not valid UTF-8"}
	}
	return nil
}

func unmarshalJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return &DecodeError{ReasonBadJSON, err.Error()}
	}
	if dec.More() {
		return &DecodeError{ReasonBadJSON, "trailing data after the JSON value"}
	}
	return nil
}

// checkID applies the one id rule (package ids) to user, post and image
// ids: they become parts of table keys ("user/post"), object keys and URL
// paths.
func checkID(field, v string) error {
	if v == "" {
		return &DecodeError{ReasonMissing, field}
	}
	if !ids.Valid(v) {
		return &DecodeError{ReasonInvalid, fmt.Sprintf("%s must be %s", field, ids.Rule)}
	}
	return nil
}

// DecodePostEvent parses a posts record. key is the record key; it must be
// the event's user_id, since that is what partitions the topic and scopes the
// post (a post is identified by user_id and post_id together).
func DecodePostEvent(key string, b []byte) (PostEvent, error) {
	var e PostEvent
	if err := decodeJSON(b, MaxPostEventBytes, &e); err != nil {
		return e, err
	}
	switch e.Type {
	case PostCreated, PostEdited, PostDeleted:
	case "":
		return e, &DecodeError{ReasonMissing, "type"}
	default:
		return e, &DecodeError{ReasonInvalid, fmt.Sprintf("type %q is not created, edited or deleted", e.Type)}
	}
	if err := checkID("post_id", e.PostID); err != nil {
		return e, err
	}
	if err := checkID("user_id", e.UserID); err != nil {
		return e, err
	}
	if e.ImageID != "" {
		if err := checkID("image_id", e.ImageID); err != nil {
			return e, err
		}
	}
	if key != e.UserID {
		return e, &DecodeError{ReasonKeyMismatch, fmt.Sprintf("record key %q is not user_id %q", key, e.UserID)}
	}
	return e, nil
}

// PostKey is the extractor's table key of a post: the post id is only unique
// within its user, and scoping it makes one user unable to touch another's post.
func PostKey(userID, postID string) string { return userID + "/" + postID }

// Source locates the posts record an event derives from.
type Source struct {
	Partition int32 `json:"p"`
	Offset    int64 `json:"o"`
}

// PostSummary is the denormalised part of a post that hashtag pages show.
type PostSummary struct {
	PostID    string    `json:"post_id"`
	UserID    string    `json:"user_id"`
	ImageID   string    `json:"image_id,omitempty"`
	Caption   string    `json:"caption,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	LikeCount int64     `json:"like_count"`
	// Rev is the post's revision when the summary was taken: the
	// extractor adds one at every change of the post (create, edit, like,
	// unlike), so of two summaries of a post the larger Rev is the newer.
	// A document from an outside ranking job carries none (0): any
	// summary tagstream knows of the post is then at least as new.
	Rev int64 `json:"v,omitempty"`
}

// Key is the post's table key, PostKey(UserID, PostID).
func (s PostSummary) Key() string { return PostKey(s.UserID, s.PostID) }

// Delta is a record of post-hashtags, keyed by the normalised hashtag: the
// net change of the hashtag's post count caused by the posts records of one
// posts partition within one extractor transaction. Source is the last of
// those records, so the deltas of a (hashtag, posts partition) pair carry
// strictly increasing offsets: that is what lets the counter drop a delta it
// has already applied (see Count.Watermarks).
type Delta struct {
	Hashtag string `json:"hashtag"`
	// Display is how the hashtag was first written in those records.
	Display string `json:"display"`
	Delta   int64  `json:"delta"`
	Source  Source `json:"src"`
}

// DecodeDelta parses a post-hashtags record and checks it against its key.
func DecodeDelta(key string, b []byte) (Delta, error) {
	var d Delta
	if err := decodeJSON(b, MaxDeltaBytes, &d); err != nil {
		return d, err
	}
	if d.Delta == 0 {
		return d, &DecodeError{ReasonMissing, "delta"}
	}
	if d.Hashtag == "" {
		return d, &DecodeError{ReasonMissing, "hashtag"}
	}
	if key != d.Hashtag {
		return d, &DecodeError{ReasonKeyMismatch, fmt.Sprintf("record key %q is not hashtag %q", key, d.Hashtag)}
	}
	if d.Source.Partition < 0 || d.Source.Offset < 0 {
		return d, &DecodeError{ReasonInvalid, fmt.Sprintf("src %d/%d is not a posts record", d.Source.Partition, d.Source.Offset)}
	}
	return d, nil
}

// TopPosts is a record of hashtag-top-posts, keyed by the normalised hashtag,
// as the ranking job (or `tagstream emit top-posts`) publishes it.
type TopPosts struct {
	Hashtag    string        `json:"hashtag"`
	Posts      []PostSummary `json:"posts"`
	ComputedAt time.Time     `json:"computed_at"`
	// Generation, when set, is the generation of the ranking that
	// computed the document (`tagstream rank`): only that generation's
	// top table applies it, so a replay's ranking, still catching up,
	// never replaces the lists being served. An outside job leaves it out
	// and every generation applies its documents.
	Generation *int `json:"generation,omitempty"`
}

// DecodeTopPosts parses a hashtag-top-posts record. normalize maps the
// document's hashtag to its key; the record key must equal it, or the list
// would be stored under a key no reader looks up.
func DecodeTopPosts(key string, b []byte, normalize func(string) string) (TopPosts, error) {
	var t TopPosts
	if err := decodeJSON(b, MaxTopPostsBytes, &t); err != nil {
		return t, err
	}
	if t.Hashtag == "" {
		return t, &DecodeError{ReasonMissing, "hashtag"}
	}
	if t.ComputedAt.IsZero() {
		return t, &DecodeError{ReasonMissing, "computed_at"}
	}
	if len(t.Posts) > MaxTopPosts {
		return t, &DecodeError{ReasonInvalid, fmt.Sprintf("%d posts, limit %d", len(t.Posts), MaxTopPosts)}
	}
	for i, p := range t.Posts {
		if err := checkID(fmt.Sprintf("posts[%d].post_id", i), p.PostID); err != nil {
			return t, err
		}
		if err := checkID(fmt.Sprintf("posts[%d].user_id", i), p.UserID); err != nil {
			return t, err
		}
	}
	if want := normalize(t.Hashtag); key != want {
		return t, &DecodeError{ReasonKeyMismatch, fmt.Sprintf("record key %q is not the normalised hashtag %q", key, want)}
	}
	return t, nil
}

// MaxFutureSkew is how far in the future a computed_at may lie: clocks
// drift, but a document from further ahead would pin its list, since an
// older computed_at never replaces a newer one.
const MaxFutureSkew = 5 * time.Minute

// CheckComputedAt refuses a top-posts document computed more than
// MaxFutureSkew after now.
func CheckComputedAt(t TopPosts, now time.Time) error {
	if t.ComputedAt.After(now.Add(MaxFutureSkew)) {
		return &DecodeError{ReasonInvalid, fmt.Sprintf("computed_at %s is more than %s in the future",
			t.ComputedAt.UTC().Format(time.RFC3339), MaxFutureSkew)}
	}
	return nil
}

// Count is the value of hashtag-counts-table. It is deliberately small: it is
// rewritten into the changelog at every count change.
type Count struct {
	Display   string    `json:"display"`
	PostCount int64     `json:"post_count"`
	UpdatedAt time.Time `json:"updated_at"`
	// Watermarks holds, per posts partition, the Source offset of the last
	// delta applied to this count. It is written in the same changelog
	// record as the count, so after a crash the count and the deltas it
	// includes are restored together, and a replayed delta (offset at or
	// below its partition's watermark) is recognised and skipped. At most
	// one entry per posts partition: ~15 bytes each.
	Watermarks map[int32]int64 `json:"w,omitempty"`
}

// PostState is the value of extractor-table under PostKey: what the extractor
// remembers of one post so that edits and deletes can emit exact deltas.
type PostState struct {
	// Keys are the post's distinct normalised hashtags; Display[i] is how
	// Keys[i] was first written in the caption.
	Keys    []string  `json:"keys,omitempty"`
	Display []string  `json:"display,omitempty"`
	ImageID string    `json:"image_id,omitempty"`
	Created time.Time `json:"created_at,omitzero"`
	// Caption is the post's current caption: the lists of every hashtag
	// of the post carry it, and an edit or a like sends it to them again.
	Caption string `json:"caption,omitempty"`
	// Likes is the number of distinct likers (their "user/post/liker"
	// keys are in the same table); Rev counts the post's changes
	// (PostSummary.Rev).
	Likes int64 `json:"likes,omitempty"`
	Rev   int64 `json:"v,omitempty"`
	// Deleted marks a tombstone: a later "created" with the same id is a
	// duplicate of a deleted post, not a new one.
	Deleted bool `json:"deleted,omitempty"`
}

// Summary is what the hashtag lists show of the post userID/postID in
// state s.
func (s PostState) Summary(userID, postID string) PostSummary {
	return PostSummary{PostID: postID, UserID: userID, ImageID: s.ImageID, Caption: s.Caption,
		CreatedAt: s.Created, LikeCount: s.Likes, Rev: s.Rev}
}

// DeadLetter is a record of the dead-letters topic: an input record a
// processor could not use, with the reason, so nothing is silently lost.
//
// It is bounded whatever the input: the value is kept as its first
// MaxDeadLetterValue bytes with its full size and SHA-256, the key and the
// error as their first MaxDeadLetterText bytes. A dead letter is at most
// about 12 KiB of JSON, so it always fits the topic however large the
// record it reports (a copy of a record near the broker's limit would not,
// and a processor that cannot write its dead letter must stop).
type DeadLetter struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Key is the record's key, cut to MaxDeadLetterText bytes.
	Key string `json:"key"`
	// Size is the length of the record's value in bytes, SHA256 its hex
	// digest: enough to find the record or recognise it again.
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	// Value is the value's first MaxDeadLetterValue bytes (base64 in JSON:
	// the record may not be text); Truncated says whether that is all of it.
	Value     []byte    `json:"value"`
	Truncated bool      `json:"truncated,omitempty"`
	Reason    string    `json:"reason"`
	Error     string    `json:"error"`
	At        time.Time `json:"at"`
}

// Bounds of a DeadLetter's copies of the rejected record.
const (
	MaxDeadLetterValue = 4 << 10
	MaxDeadLetterText  = 1 << 10
)

// NewDeadLetter describes a rejected record within the bounds of DeadLetter.
func NewDeadLetter(group, topic string, partition int32, offset int64, key, value []byte, reason string, err error, at time.Time) DeadLetter {
	sum := sha256.Sum256(value)
	d := DeadLetter{
		Group: group, Topic: topic, Partition: partition, Offset: offset,
		Key: cut(string(key), MaxDeadLetterText), Size: len(value), SHA256: hex.EncodeToString(sum[:]),
		Value: value, Reason: reason, Error: cut(err.Error(), MaxDeadLetterText), At: at.UTC(),
	}
	if len(value) > MaxDeadLetterValue {
		d.Value, d.Truncated = value[:MaxDeadLetterValue], true
	}
	return d
}

// DeadLetterKey is the key a dead letter is written under: the rejected
// record's key, cut to MaxDeadLetterText bytes.
func DeadLetterKey(key []byte) []byte {
	if len(key) > MaxDeadLetterText {
		return key[:MaxDeadLetterText]
	}
	return key
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
