package processors

import (
	"slices"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/metrics"
)

// Ignored counts post events that were valid but changed nothing, by kind.
var Ignored = metrics.Default.NewCounterVec("tagstream_extractor_ignored_total",
	"Post events the extractor applied as no-ops (duplicate create, edit or delete of an unknown post).", "kind")

// Change is one hashtag a post gained (+1) or lost (-1).
type Change struct {
	Key     string
	Display string
	Sign    int64
}

// apply is the extractor's rule: given what is known of a post (nil if
// nothing) and its next event, it returns the post's new state and the
// hashtags it gained or lost, or a non-empty ignore kind when the event
// changes nothing.
//
//   - created: +1 per distinct key. A second create of a known (or deleted)
//     post is a duplicate and counts nothing.
//   - edited: -1 per key the new caption lost, +1 per key it gained.
//   - deleted: -1 per key; the post becomes a tombstone, so a replayed or
//     repeated create cannot bring it back. It keeps the creation time,
//     which places its -1 in the trending window of its creation.
//
// Every change adds one to the post's revision (events.PostSummary.Rev).
//
// keys and display are the caption's, already parsed (the extractor gets
// them from validating the caption).
func apply(prev *events.PostState, e events.PostEvent, keys, display []string) (events.PostState, []Change, string) {
	switch e.Type {
	case events.PostCreated:
		if prev != nil {
			return events.PostState{}, nil, "duplicate_create"
		}
		next := events.PostState{Keys: keys, Display: display, ImageID: e.ImageID, Created: e.TS, Caption: e.Caption, Rev: 1}
		return next, changes(nil, +1, keys, display), ""
	case events.PostEdited:
		if prev == nil || prev.Deleted {
			return events.PostState{}, nil, "edit_unknown"
		}
		next := events.PostState{Keys: keys, Display: display, ImageID: prev.ImageID, Created: prev.Created,
			Caption: e.Caption, Likes: prev.Likes, Rev: prev.Rev + 1}
		if e.ImageID != "" {
			next.ImageID = e.ImageID
		}
		gone, gdisp := minus(prev.Keys, prev.Display, keys)
		added, adisp := minus(keys, display, prev.Keys)
		return next, changes(changes(nil, -1, gone, gdisp), +1, added, adisp), ""
	case events.PostDeleted:
		if prev == nil || prev.Deleted {
			return events.PostState{}, nil, "delete_unknown"
		}
		return events.PostState{Deleted: true, Created: prev.Created, Rev: prev.Rev + 1}, changes(nil, -1, prev.Keys, prev.Display), ""
	}
	return events.PostState{}, nil, "unknown_type"
}

// applyLike is the rule for likes: a liker counts once per post, however
// often they like it; an unlike takes their like back; a like of a post
// the extractor does not know, or of a deleted one, counts nothing.
// liked says whether the liker likes the post before the event. It
// returns the post's new state, or a non-empty ignore kind.
func applyLike(prev *events.PostState, e events.LikeEvent, liked bool) (events.PostState, string) {
	switch {
	case prev == nil:
		return events.PostState{}, "like_unknown_post"
	case prev.Deleted:
		return events.PostState{}, "like_deleted_post"
	case e.Type == events.Liked && liked:
		return events.PostState{}, "like_repeated"
	case e.Type == events.Unliked && !liked:
		return events.PostState{}, "unlike_not_liked"
	}
	next := *prev
	next.Rev++
	if e.Type == events.Liked {
		next.Likes++
	} else {
		next.Likes--
	}
	return next, ""
}

func minus(keys, display, drop []string) (k, d []string) {
	for i, key := range keys {
		if !slices.Contains(drop, key) {
			k = append(k, key)
			d = append(d, display[i])
		}
	}
	return k, d
}

func changes(out []Change, sign int64, keys, display []string) []Change {
	for i, k := range keys {
		out = append(out, Change{Key: k, Display: display[i], Sign: sign})
	}
	return out
}
