package gokaopts

import (
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/tagstream/tagstream/tablestore"
)

// orderedProducer completes the promises of a goka producer in the order
// of the emits.
//
// goka commits a message's offset as soon as that message's own emits are
// acknowledged, and the consumer keeps the highest offset marked. When a
// later message's emit goes to another partition than an earlier one's (a
// dead letter after a changelog write), the later one can be acknowledged
// first: a crash then commits past the earlier message whose write never
// landed, and it is lost. Completing promises in order makes every commit
// imply that all earlier writes are durable.
type orderedProducer struct {
	goka.Producer
	mu   sync.Mutex
	last *goka.Promise
}

// Emit sends like the wrapped producer; the promise completes after every
// earlier one.
func (p *orderedProducer) Emit(topic, key string, value []byte) *goka.Promise {
	return p.chain(topic, key, value, p.Producer.Emit(topic, key, value))
}

// EmitWithHeaders is Emit with headers.
func (p *orderedProducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	return p.chain(topic, key, value, p.Producer.EmitWithHeaders(topic, key, value, headers))
}

// chain completes out after inner and every earlier emit; an earlier
// failure fails every later promise too, so no later commit can hide it.
// Just before, in the same order, it hands a successful write to a durable
// table store (tablestore.Acked), whose journal must hold the changelog's
// writes in order and none that failed.
func (p *orderedProducer) chain(topic, key string, value []byte, inner *goka.Promise) *goka.Promise {
	out, finish := goka.NewPromiseWithFinisher()
	p.mu.Lock()
	prev := p.last
	p.last = out
	p.mu.Unlock()
	inner.ThenWithMessage(func(msg *sarama.ProducerMessage, err error) {
		done := func(err error) {
			if err == nil && msg != nil {
				tablestore.Acked(topic, msg.Partition, key, value, msg.Offset)
			}
			finish(msg, err)
		}
		if prev == nil {
			done(err)
			return
		}
		prev.Then(func(perr error) {
			if err == nil && perr != nil {
				err = fmt.Errorf("gokaopts: an earlier write failed: %w", perr)
			}
			done(err)
		})
	})
	return out
}

// live are the ordered producers of this process: AfterEmits waits for
// the last emit of each.
var live sync.Map

func newOrderedProducer(p goka.Producer) *orderedProducer {
	o := &orderedProducer{Producer: p}
	live.Store(o, struct{}{})
	return o
}

// Close closes the wrapped producer and forgets it.
func (p *orderedProducer) Close() error {
	live.Delete(p)
	return p.Producer.Close()
}

// AfterEmits calls fn once every emit made so far by this process's goka
// producers has completed, with the first error among them; at once if
// none is pending.
//
// goka commits a message once its own emits are acknowledged, so one that
// emits nothing (a record a list skips, a change that moves no candidate)
// commits at once, and the consumer keeps the highest offset marked: a
// crash then commits past an earlier message whose table write had not
// landed, and that message is lost for good. A processor that defers
// each commit to AfterEmits (goka's Context.DeferCommit) commits in
// order.
func AfterEmits(fn func(error)) {
	var last []*goka.Promise
	live.Range(func(k, _ any) bool {
		p := k.(*orderedProducer)
		p.mu.Lock()
		if p.last != nil {
			last = append(last, p.last)
		}
		p.mu.Unlock()
		return true
	})
	if len(last) == 0 {
		fn(nil)
		return
	}
	var mu sync.Mutex
	left := len(last)
	var first error
	for _, pr := range last {
		pr.Then(func(err error) {
			mu.Lock()
			if err != nil && first == nil {
				first = err
			}
			left--
			done, e := left == 0, first
			mu.Unlock()
			if done {
				fn(e)
			}
		})
	}
}
