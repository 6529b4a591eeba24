package gokaopts

import (
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
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
	return p.chain(p.Producer.Emit(topic, key, value))
}

// EmitWithHeaders is Emit with headers.
func (p *orderedProducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	return p.chain(p.Producer.EmitWithHeaders(topic, key, value, headers))
}

func (p *orderedProducer) chain(inner *goka.Promise) *goka.Promise {
	out, finish := goka.NewPromiseWithFinisher()
	p.mu.Lock()
	prev := p.last
	p.last = out
	p.mu.Unlock()
	inner.ThenWithMessage(func(msg *sarama.ProducerMessage, err error) {
		if prev == nil {
			finish(msg, err)
			return
		}
		prev.Then(func(error) { finish(msg, err) })
	})
	return out
}
