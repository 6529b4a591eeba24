package events

import (
	"encoding/json"
	"fmt"
	"sync"
)

// JSON is a goka.Codec for the value type T. It is used for tagstream's own
// tables and internal topics, whose records tagstream wrote itself; input
// topics use goka's codec.Bytes and decode inside the callback, so that a
// poison record reaches the callback and is dead-lettered instead of
// stopping the processor.
type JSON[T any] struct{}

// Encode implements goka.Codec.
func (JSON[T]) Encode(value any) ([]byte, error) {
	switch v := value.(type) {
	case T:
		return json.Marshal(v)
	case *T:
		return json.Marshal(v)
	default:
		return nil, fmt.Errorf("events: cannot encode %T, want %T", value, *new(T))
	}
}

// Decode implements goka.Codec. It returns a T, never a *T.
func (JSON[T]) Decode(data []byte) (any, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("events: decode %T: %w", v, err)
	}
	return v, nil
}

// CachedJSON is JSON that remembers the values it encoded last, by their
// bytes, and decodes those bytes to the remembered value without parsing
// them. A group's callback reads (Decode) the value its previous callback
// for the key wrote (Encode), and the list tables' values are lists of up
// to hundreds of summaries: their JSON decode was more than half of the
// recent group's CPU (pprof under `make load-bench`). The cache is content
// addressed, so a hit is exactly what parsing would give.
//
// Decoded values are shared between callers: a callback must not modify
// one in place (the Apply functions copy the slices and maps they change).
// Memory: the values whose encodings take the last budget/2 to budget
// bytes, and those bytes.
type CachedJSON[T any] struct{ c *valueCache[T] }

// NewCachedJSON returns a CachedJSON remembering the values it encoded
// last, up to budget bytes of their encodings.
func NewCachedJSON[T any](budget int) CachedJSON[T] {
	return CachedJSON[T]{&valueCache[T]{half: max(budget/2, 1), cur: map[string]T{}}}
}

// valueCache is a two-generation cache: entries go into cur; when cur
// holds half the budget it becomes old and a new cur starts, so the newest
// values are always kept and old ones leave without a per-entry LRU list.
type valueCache[T any] struct {
	mu       sync.Mutex
	half     int // bytes of encodings per generation
	curBytes int
	cur, old map[string]T
}

// Encode implements goka.Codec.
func (c CachedJSON[T]) Encode(value any) ([]byte, error) {
	b, err := JSON[T]{}.Encode(value)
	if err != nil {
		return nil, err
	}
	v, ok := value.(T)
	if !ok {
		v = *value.(*T)
	}
	c.c.put(string(b), v)
	return b, nil
}

// Decode implements goka.Codec. It returns a T, never a *T.
func (c CachedJSON[T]) Decode(data []byte) (any, error) {
	if v, ok := c.c.get(data); ok {
		return v, nil
	}
	return JSON[T]{}.Decode(data)
}

func (c *valueCache[T]) put(k string, v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.curBytes+len(k) > c.half && len(c.cur) > 0 {
		c.old, c.cur, c.curBytes = c.cur, map[string]T{}, 0
	}
	c.cur[k] = v
	c.curBytes += len(k)
}

func (c *valueCache[T]) get(b []byte) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[string(b)]; ok {
		return v, true
	}
	v, ok := c.old[string(b)]
	return v, ok
}
