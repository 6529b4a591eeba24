package events

import (
	"fmt"
	"strings"
	"time"
)

// MaxLikeEventBytes bounds a likes record: three ids, a type and a time
// take about 250 bytes; 4 KiB leaves room for future fields.
const MaxLikeEventBytes = 4 << 10

// LikeEventType says whether a like was given or taken back.
type LikeEventType string

// The like event types. Any other value is rejected.
const (
	Liked   LikeEventType = "liked"
	Unliked LikeEventType = "unliked"
)

// LikeEvent is a record of the likes topic, keyed by the post owner's
// user_id, so it is in the partition of the same number as the post's own
// events on posts (co-partitioned) and one extractor sees both.
type LikeEvent struct {
	Type LikeEventType `json:"type"`
	// UserID and PostID name the post liked: UserID is its owner.
	UserID string `json:"user_id"`
	PostID string `json:"post_id"`
	// LikerID is who likes it (the token's subject through the API).
	LikerID string    `json:"liker_id"`
	TS      time.Time `json:"ts"`
}

// DecodeLikeEvent parses a likes record. key is the record key: it must be
// the post owner's user_id, which partitions the topic like posts.
func DecodeLikeEvent(key string, b []byte) (LikeEvent, error) {
	var e LikeEvent
	if err := decodeJSON(b, MaxLikeEventBytes, &e); err != nil {
		return e, err
	}
	switch e.Type {
	case Liked, Unliked:
	case "":
		return e, &DecodeError{ReasonMissing, "type"}
	default:
		return e, &DecodeError{ReasonInvalid, fmt.Sprintf("type %q is not liked or unliked", e.Type)}
	}
	for _, f := range []struct{ name, v string }{{"user_id", e.UserID}, {"post_id", e.PostID}, {"liker_id", e.LikerID}} {
		if err := checkID(f.name, f.v); err != nil {
			return e, err
		}
	}
	if key != e.UserID {
		return e, &DecodeError{ReasonKeyMismatch, fmt.Sprintf("record key %q is not user_id %q (the post's owner)", key, e.UserID)}
	}
	return e, nil
}

// LikerKey is the extractor's table key recording that liker likes the
// post postKey (PostKey): "user/post/liker". Ids hold no '/', so it never
// equals a post's key and names exactly one (post, liker) pair.
func LikerKey(postKey, liker string) string { return postKey + "/" + liker }

// SplitLikerKey returns the post key and the liker of a LikerKey; ok is
// false for a post's own key.
func SplitLikerKey(k string) (postKey, liker string, ok bool) {
	i := strings.LastIndexByte(k, '/')
	if i < 0 || strings.IndexByte(k, '/') == i {
		return "", "", false
	}
	return k[:i], k[i+1:], true
}
