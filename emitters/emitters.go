// Package emitters publishes tagstream's external records: post events from
// the API and top-post documents from the ranking job's side.
package emitters

import (
	"fmt"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/processors"
)

// Posts publishes PostEvents on the posts topic, keyed by user_id.
type Posts struct{ e *goka.Emitter }

// NewPosts creates the emitter. The posts topic must exist.
func NewPosts(c kafka.Cluster) (*Posts, error) {
	e, err := goka.NewEmitter(c.Brokers, processors.TopicPosts, events.JSON[events.PostEvent]{},
		c.EmitterOptions(string(processors.TopicPosts))...)
	if err != nil {
		return nil, fmt.Errorf("emitters: posts: %w", err)
	}
	return &Posts{e}, nil
}

// Emit publishes e and waits until the broker acknowledged it, so a 202
// from the API means the post is in the log.
func (p *Posts) Emit(e events.PostEvent) error {
	if err := p.e.EmitSync(e.UserID, e); err != nil {
		return fmt.Errorf("emitters: post %s/%s: %w", e.UserID, e.PostID, err)
	}
	return nil
}

// Close flushes and closes the emitter.
func (p *Posts) Close() error { return p.e.Finish() }

// TopPosts publishes top-post documents on hashtag-top-posts, keyed by the
// normalised hashtag.
type TopPosts struct{ e *goka.Emitter }

// NewTopPosts creates the emitter. The topic must exist.
func NewTopPosts(c kafka.Cluster) (*TopPosts, error) {
	e, err := goka.NewEmitter(c.Brokers, processors.TopicTopPosts, new(codec.Bytes),
		c.EmitterOptions(string(processors.TopicTopPosts))...)
	if err != nil {
		return nil, fmt.Errorf("emitters: top posts: %w", err)
	}
	return &TopPosts{e}, nil
}

// Emit publishes one already-validated document under key. It returns once
// the record is queued; Close waits for every acknowledgement.
func (t *TopPosts) Emit(key string, doc []byte) (*goka.Promise, error) {
	pr, err := t.e.Emit(key, doc)
	if err != nil {
		return nil, fmt.Errorf("emitters: top posts %q: %w", key, err)
	}
	return pr, nil
}

// Close flushes and closes the emitter.
func (t *TopPosts) Close() error { return t.e.Finish() }
