package events

import (
	"encoding/json"
	"fmt"
)

// JSON is a goka.Codec for the value type T. It is used for tagstream's own
// tables and internal topics, whose records tagstream wrote itself; input
// topics use goka's codec.Bytes and decode inside the callback, so that a
// poison record reaches the callback and is dead-lettered instead of
// stopping the processor.
type JSON[T any] struct{}

// Encode implements goka.Codec.
func (JSON[T]) Encode(value any) ([]byte, error) {
	v, err := valueOf[T](value)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// valueOf is the T a codec of T encodes: value itself, or what a *T
// points to.
func valueOf[T any](value any) (T, error) {
	switch v := value.(type) {
	case T:
		return v, nil
	case *T:
		return *v, nil
	default:
		return *new(T), fmt.Errorf("events: cannot encode %T, want %T", value, *new(T))
	}
}

// Decode implements goka.Codec. It returns a T, never a *T.
// A T that scans itself (Count, Recent, Top: scan.go) is read without
// reflection, to the same value.
func (JSON[T]) Decode(data []byte) (any, error) {
	v, err := decodeScanned[T](data)
	if err != nil {
		return nil, fmt.Errorf("events: decode %T: %w", v, err)
	}
	return v, nil
}
