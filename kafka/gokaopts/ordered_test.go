package gokaopts

import (
	"slices"
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
