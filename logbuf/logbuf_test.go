package logbuf

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/tagstream/tagstream/testenv"
)

// lockedBuffer is the "file" under the Writer, read while it writes.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

// Info lines are batched into few writes and reach the output within
// Interval; a warning is written before Handle returns; Close writes the
// rest.
func TestBuffersInfoFlushesWarnings(t *testing.T) {
	var out lockedBuffer
	w := New(&out)
	log := slog.New(NewHandler(slog.NewTextHandler(w, nil), w))
	for i := range 100 {
		log.Info("request", "n", i)
	}
	testenv.Await(t, 5*Interval, "100 info lines written", func() bool {
		s, _ := out.String()
		return strings.Count(s, "msg=request") == 100
	})
	if _, writes := out.String(); writes > 2 {
		t.Errorf("100 lines took %d writes", writes)
	}
	log.With("component", "x").Warn("trouble")
	if s, _ := out.String(); !strings.Contains(s, "msg=trouble component=x") {
		t.Error("a warning waited in the buffer")
	}
	log.Info("last")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := out.String(); !strings.Contains(s, "msg=last") {
		t.Error("Close did not write the last line")
	}
}
