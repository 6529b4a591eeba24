package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/kafka"
)

type pointerRecord struct {
	Generation int       `json:"generation"`
	At         time.Time `json:"at"`
}

// PointerTimeout bounds each read or write of the generation pointer.
const PointerTimeout = 10 * time.Second

// ErrBadPointer is a pointer record that does not decode: the generation
// cannot be known, and guessing would serve or write the wrong state.
var ErrBadPointer = errors.New("topology: the generation pointer does not decode")

// CurrentGen returns the generation of ns every process serves: 0 if the
// pointer topic is empty or does not exist yet. It reads only the last
// record, within PointerTimeout.
func CurrentGen(ctx context.Context, c kafka.Cluster, ns Namespace) (Gen, error) {
	ctx, cancel := context.WithTimeout(ctx, PointerTimeout)
	defer cancel()
	topic := ns.Pointer()
	ends, err := c.Ends(ctx, topic)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return ns.Gen(0), nil
	}
	if err != nil {
		return Gen{}, fmt.Errorf("topology: end of %s: %w", topic, err)
	}
	end := ends[0]
	if end == 0 {
		return ns.Gen(0), nil
	}
	var rec pointerRecord
	var decodeErr error
	got := false
	// The last offset may be a transaction marker only if someone wrote
	// the pointer in a transaction; SetGen does not. Read the last record.
	err = c.ReadSpans(ctx, kafka.Spans{topic: {0: {From: end - 1, To: end}}}, false, func(r *kgo.Record) {
		got = true
		decodeErr = json.Unmarshal(r.Value, &rec)
	})
	if err != nil {
		return Gen{}, fmt.Errorf("topology: read %s: %w", topic, err)
	}
	if !got || decodeErr != nil || rec.Generation < 0 {
		return Gen{}, fmt.Errorf("%w: %s at offset %d: %v", ErrBadPointer, topic, end-1, decodeErr)
	}
	return ns.Gen(rec.Generation), nil
}

// SetGen makes g the generation every process of its namespace serves.
func SetGen(ctx context.Context, c kafka.Cluster, g Gen) error {
	ctx, cancel := context.WithTimeout(ctx, PointerTimeout)
	defer cancel()
	cl, err := c.Client("generation")
	if err != nil {
		return err
	}
	defer cl.Close()
	v, _ := json.Marshal(pointerRecord{Generation: g.N, At: time.Now().UTC()})
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: g.NS.Pointer(), Key: []byte("current"), Value: v}).FirstErr(); err != nil {
		return fmt.Errorf("topology: set generation %d: %w", g.N, err)
	}
	return nil
}

// UntilGenChanges returns a context that is cancelled when the current
// generation is no longer g (checked every interval), and a stop function
// that cancels it and waits for the watcher to end. A pointer that cannot
// be read is logged and read again at the next interval.
func UntilGenChanges(ctx context.Context, c kafka.Cluster, g Gen, interval time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cur, err := CurrentGen(ctx, c, g.NS)
			switch {
			case err != nil && ctx.Err() == nil:
				slog.Warn("reading the generation pointer", "err", err)
			case err == nil && cur != g:
				cancel()
				return
			}
		}
	})
	return ctx, func() { cancel(); wg.Wait() }
}
