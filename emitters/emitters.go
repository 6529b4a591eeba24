// Package emitters publishes tagstream's external records: post and like
// events from the API and top-post documents from the ranking job's side.
package emitters

import (
	"context"
	"errors"
	"fmt"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/gokaopts"
	"github.com/tagstream/tagstream/topology"
)

// Posts publishes PostEvents on the posts topic and LikeEvents on the
// likes topic, both keyed by the post owner's user_id.
type Posts struct{ posts, likes *goka.Emitter }

// NewPosts creates the emitters of ns's posts and likes. The topics must
// exist.
func NewPosts(c kafka.Cluster, ns topology.Namespace) (*Posts, error) {
	posts, err := goka.NewEmitter(c.Brokers, goka.Stream(ns.Posts()), events.JSON[events.PostEvent]{},
		gokaopts.Emitter(c, ns.Posts())...)
	if err != nil {
		return nil, fmt.Errorf("emitters: posts: %w", err)
	}
	likes, err := goka.NewEmitter(c.Brokers, goka.Stream(ns.Likes()), events.JSON[events.LikeEvent]{},
		gokaopts.Emitter(c, ns.Likes())...)
	if err != nil {
		posts.Finish()
		return nil, fmt.Errorf("emitters: likes: %w", err)
	}
	return &Posts{posts: posts, likes: likes}, nil
}

// Emit publishes e and waits until the broker acknowledged it or ctx
// ends, so a 202 from the API means the post is in the log. A post whose
// wait ended with ctx may still be written: the client retries, and the
// extractor counts a repeated create once.
func (p *Posts) Emit(ctx context.Context, e events.PostEvent) error {
	if err := emit(ctx, p.posts, e.UserID, e); err != nil {
		return fmt.Errorf("emitters: post %s/%s: %w", e.UserID, e.PostID, err)
	}
	return nil
}

// EmitLike publishes e like Emit: a like repeated by a retry counts once.
func (p *Posts) EmitLike(ctx context.Context, e events.LikeEvent) error {
	if err := emit(ctx, p.likes, e.UserID, e); err != nil {
		return fmt.Errorf("emitters: %s of %s/%s by %s: %w", e.Type, e.UserID, e.PostID, e.LikerID, err)
	}
	return nil
}

func emit(ctx context.Context, em *goka.Emitter, key string, v any) error {
	pr, err := em.Emit(key, v)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	pr.Then(func(err error) { done <- err })
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	return err
}

// Close flushes and closes the emitters.
func (p *Posts) Close() error { return errors.Join(p.posts.Finish(), p.likes.Finish()) }

// TopPosts publishes top-post documents on hashtag-top-posts, keyed by the
// normalised hashtag.
type TopPosts struct{ e *goka.Emitter }

// NewTopPosts creates the emitter of ns's top posts. The topic must exist.
func NewTopPosts(c kafka.Cluster, ns topology.Namespace) (*TopPosts, error) {
	e, err := goka.NewEmitter(c.Brokers, goka.Stream(ns.TopPosts()), new(codec.Bytes),
		gokaopts.Emitter(c, ns.TopPosts())...)
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
