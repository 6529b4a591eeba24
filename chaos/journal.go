package chaos

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// journal is the run's schedule as it happened: every process start and
// exit, every SIGKILL, the broker restart, the load's milestones. Each line
// carries the wall clock and the seconds since the run began, so it lines
// up with the processes' own logs. It is what a failed run's folder shows
// first after the verdict.
type journal struct {
	start time.Time
	mu    sync.Mutex
	f     *os.File
	echo  io.Writer
}

func openJournal(path string, echo io.Writer) (*journal, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("chaos: journal: %w", err)
	}
	return &journal{start: time.Now(), f: f, echo: echo}, nil
}

// event writes one line to the journal.
func (j *journal) event(format string, args ...any) {
	j.write(false, format, args...)
}

// say writes one line to the journal and to the run's progress output.
func (j *journal) say(format string, args ...any) {
	j.write(true, format, args...)
}

func (j *journal) write(echo bool, format string, args ...any) {
	now := time.Now()
	line := fmt.Sprintf("%s +%7.2fs %s\n", now.UTC().Format("15:04:05.000"), now.Sub(j.start).Seconds(), fmt.Sprintf(format, args...))
	j.mu.Lock()
	defer j.mu.Unlock()
	_, _ = j.f.WriteString(line)
	if echo {
		_, _ = fmt.Fprintf(j.echo, "chaos: %s", line)
	}
}

func (j *journal) close() error { return j.f.Close() }
