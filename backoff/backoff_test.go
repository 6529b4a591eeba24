package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetryStopsOnSuccessPermanentOrContext(t *testing.T) {
	p := Policy{First: time.Millisecond, Max: 4 * time.Millisecond}
	n := 0
	if err := Retry(context.Background(), p, func(context.Context) error {
		if n++; n < 4 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 4 {
		t.Fatalf("Retry = %v after %d calls, want nil after 4", err, n)
	}
	bad := errors.New("bad request")
	n = 0
	if err := Retry(context.Background(), p, func(context.Context) error { n++; return Permanent(bad) }); err != bad || n != 1 {
		t.Fatalf("Retry of a permanent error = %v after %d calls", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err := Retry(ctx, p, func(context.Context) error {
		if n++; n == 3 {
			cancel()
		}
		return errors.New("down")
	})
	if !errors.Is(err, context.Canceled) || n != 3 {
		t.Fatalf("Retry after cancel = %v after %d calls", err, n)
	}
}

// Waits grow to the cap and stay within [half, all] of the interval.
func TestWaitsGrowToTheCap(t *testing.T) {
	b := New(Policy{First: 10 * time.Millisecond, Max: 40 * time.Millisecond})
	want := []time.Duration{10, 20, 40, 40, 40}
	for i, w := range want {
		if b.next != w*time.Millisecond {
			t.Fatalf("wait %d: interval %s, want %s", i, b.next, w*time.Millisecond)
		}
		b.Wait(context.Background())
	}
	b.Reset()
	if b.next != 10*time.Millisecond {
		t.Fatalf("after Reset: %s", b.next)
	}
}
