package processors

import (
	"context"
	"errors"
	"testing"

	"github.com/lovoo/goka"
)

// stoppingContext is a goka.Context of a processor that is stopping: its
// Fail records the error and returns, as goka's does once the processor's
// context is done. Anything else the callback calls on it is a bug here.
type ctxIface = goka.Context

type stoppingContext struct {
	ctxIface
	failed error
}

func (c *stoppingContext) Fail(err error)           { c.failed = err }
func (c *stoppingContext) Key() string              { return "sunset" }
func (c *stoppingContext) Context() context.Context { return context.Background() }

// A bound that cannot be read (its ListOffsets canceled by the very
// shutdown) must not make the counter dead-letter a real delta, nor apply
// it: the callback stops there, with a panic goka recovers, so the delta
// stays unmarked and is read again. Before, Fail returned while stopping
// and the delta was dead-lettered as "not an input record" and lost
// (make test's chaos, seed 500856: a count 11 short).
func TestCounterStopsOnABoundErrorWhileStopping(t *testing.T) {
	canceled := errors.New("end offsets: context canceled")
	bound := boundFunc(func() (bool, error) { return false, canceled })
	cb := countDelta(goka.Stream("dead-letters"), bound, "posts")
	ctx := &stoppingContext{}
	defer func() {
		r := recover()
		if err, ok := r.(error); !ok || !errors.Is(err, canceled) || !errors.Is(ctx.failed, canceled) {
			t.Fatalf("recovered %v, failed with %v: want the bound's error through Fail and a panic (no dead letter, no write)", r, ctx.failed)
		}
	}()
	cb(ctx, []byte(`{"hashtag":"sunset","delta":1,"src":{"p":0,"o":5}}`))
	t.Fatal("the callback went on after the bound failed")
}

// boundFunc is a SourceBound with an answer and an error.
type boundFunc func() (bool, error)

func (f boundFunc) Read(context.Context, string, int32, int64) (bool, error) { return f() }
