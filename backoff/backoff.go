// Package backoff is the one way tagstream waits between attempts: an
// exponential backoff with jitter, bounded by a cap and by a context.
// Every retry loop of the module goes through it, so every one can be
// cancelled and none spins.
package backoff

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy says how long to wait between attempts: First, then twice as long
// each time up to Max, each wait drawn between half of it and all of it
// (so that many clients retrying at once spread out). Zero fields take the
// defaults: First 100ms, Max 5s.
type Policy struct {
	First, Max time.Duration
}

func (p Policy) defaults() Policy {
	if p.First <= 0 {
		p.First = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 5 * time.Second
	}
	if p.Max < p.First {
		p.Max = p.First
	}
	return p
}

// Backoff is a Policy in progress.
type Backoff struct {
	p    Policy
	next time.Duration
}

// New starts a backoff of p.
func New(p Policy) *Backoff {
	p = p.defaults()
	return &Backoff{p: p, next: p.First}
}

// Next returns the next wait and moves on, for a caller that waits with a
// timer of its own.
func (b *Backoff) Next() time.Duration {
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(2*b.next, b.p.Max)
	return d
}

// Wait waits the next interval, or less if ctx ends first, and returns
// ctx's error then.
func (b *Backoff) Wait(ctx context.Context) error {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Reset makes the next wait the first one again, after a success.
func (b *Backoff) Reset() { b.next = b.p.First }

// permanent marks an error Retry must not retry.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so that Retry returns it at once.
func Permanent(err error) error { return permanent{err} }

// Retry calls fn until it returns nil, returns an error wrapped by
// Permanent, or ctx ends; between attempts it waits as p says. The error
// is the last one fn returned (unwrapped from Permanent), with ctx's if
// ctx ended.
func Retry(ctx context.Context, p Policy, fn func(context.Context) error) error {
	b := New(p)
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		var perm permanent
		if errors.As(err, &perm) {
			return perm.err
		}
		if werr := b.Wait(ctx); werr != nil {
			return fmt.Errorf("%w (after %d attempts; last error: %w)", werr, attempt, err)
		}
	}
}
