package gokaopts

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lovoo/goka"
)

// manualProducer's emits complete when the test says so.
type manualProducer struct {
	finishers []goka.PromiseFinisher
}

func (m *manualProducer) Emit(string, string, []byte) *goka.Promise {
	p, f := goka.NewPromiseWithFinisher()
	m.finishers = append(m.finishers, f)
	return p
}

func (m *manualProducer) EmitWithHeaders(t, k string, v []byte, _ goka.Headers) *goka.Promise {
	return m.Emit(t, k, v)
}

func (m *manualProducer) Close() error { return nil }

// Acknowledged in reverse, the emits still complete in the order made: a
// commit goka makes on completion implies every earlier write landed.
func TestOrderedProducerCompletesInEmitOrder(t *testing.T) {
	inner := &manualProducer{}
	p := &orderedProducer{Producer: inner}
	var mu sync.Mutex
	var done []int
	for i := range 5 {
		p.Emit("t", "k", nil).Then(func(error) {
			mu.Lock()
			done = append(done, i)
			mu.Unlock()
		})
	}
	for i := 4; i >= 1; i-- {
		inner.finishers[i](nil, nil)
	}
	if len(done) != 0 {
		t.Fatalf("completed %v before the first emit was acknowledged", done)
	}
	inner.finishers[0](nil, nil)
	if !slices.Equal(done, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("completion order %v, want emit order", done)
	}
}

// A message that writes nothing commits, through AfterEmits, only once
// every earlier write of every producer of the process has landed, and
// fails if one of them failed: its commit must not carry the consumer
// past a message whose write was lost.
func TestAfterEmitsWaitsForEveryEarlierWrite(t *testing.T) {
	a, b := &manualProducer{}, &manualProducer{}
	pa, pb := newOrderedProducer(a), newOrderedProducer(b)
	defer pa.Close()
	defer pb.Close()

	var calls []error
	AfterEmits(func(err error) { calls = append(calls, err) })
	if len(calls) != 1 || calls[0] != nil {
		t.Fatalf("with nothing pending, AfterEmits called back %v, want once at once with nil", calls)
	}

	calls = nil
	pa.Emit("t", "k", nil)
	pb.Emit("t", "k", nil)
	AfterEmits(func(err error) { calls = append(calls, err) })
	pa.Emit("t", "k", nil) // a later write: not waited for
	b.finishers[0](nil, nil)
	if len(calls) != 0 {
		t.Fatalf("called back %v while the first producer's write is pending", calls)
	}
	a.finishers[0](nil, nil)
	if len(calls) != 1 || calls[0] != nil {
		t.Fatalf("after both earlier writes landed: calls %v, want one nil", calls)
	}

	// An earlier write that failed fails every later promise and the
	// barrier, even though the barrier's own last write landed.
	calls = nil
	pa.Emit("t", "k", nil)
	AfterEmits(func(err error) { calls = append(calls, err) })
	a.finishers[2](nil, nil)                          // the last write lands
	a.finishers[1](nil, errors.New("broker refused")) // the one before it fails
	if len(calls) != 1 || calls[0] == nil || !strings.Contains(calls[0].Error(), "broker refused") {
		t.Fatalf("after an earlier write failed: calls %v, want its error", calls)
	}
}

// A closed producer is forgotten: a barrier does not wait for it.
func TestAfterEmitsForgetsClosedProducers(t *testing.T) {
	m := &manualProducer{}
	p := newOrderedProducer(m)
	p.Emit("t", "k", nil) // never acknowledged
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	called := false
	AfterEmits(func(error) { called = true })
	if !called {
		t.Fatal("AfterEmits waits for a closed producer's write")
	}
}
