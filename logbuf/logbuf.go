// Package logbuf buffers a process's log lines so that logging one line
// per HTTP request does not cost one write(2) each: lines collect in
// memory and are written every Interval, when the buffer fills, at once
// for a line of level Warn or above, and on Close.
//
// Why: with a line per request, the write of each line was 4 % of the
// API's CPU under bench-read.sh (and formatting it 6 %). What a crash
// can lose is bounded: the lines of the last Interval, never a warning
// or an error, which are written before Handle returns.
package logbuf

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Interval is how long a line may wait in the buffer.
const Interval = 200 * time.Millisecond

// Writer is an io.Writer that buffers what it is given.
type Writer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// New returns a Writer to w that flushes every Interval until Close.
func New(w io.Writer) *Writer {
	b := &Writer{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.Flush()
			}
		}
	}()
	return b
}

func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// Flush writes what is buffered.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

// Close stops the flusher, waits for it and flushes.
func (b *Writer) Close() error {
	close(b.stop)
	<-b.done
	return b.Flush()
}

// Handler is a slog.Handler whose records of level Warn and above are
// flushed to the output before Handle returns.
type Handler struct {
	slog.Handler
	out *Writer
}

// NewHandler wraps h, which writes to out.
func NewHandler(h slog.Handler, out *Writer) *Handler { return &Handler{Handler: h, out: out} }

// Enabled is h's.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.Handler.Enabled(ctx, l) }

// Handle writes r, and flushes it at once if it is a warning or worse.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.out.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// WithAttrs keeps the flushing.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{Handler: h.Handler.WithAttrs(as), out: h.out}
}

// WithGroup keeps the flushing.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{Handler: h.Handler.WithGroup(name), out: h.out}
}
