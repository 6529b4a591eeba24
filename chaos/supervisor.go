package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// supervisor keeps the processes running as an orchestrator would: a
// process that exits is started again under the same name and arguments
// (so a worker keeps its instance id), after a second if it crashed on
// its own, at once if chaos killed it.
type supervisor struct {
	ctx    context.Context
	cancel context.CancelFunc
	o      Options
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]*exec.Cmd
	killed  map[string]bool
	workers []string
	kills   int
	crashes int
}

func newSupervisor(ctx context.Context, o Options) (*supervisor, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &supervisor{ctx: ctx, cancel: cancel, o: o, running: map[string]*exec.Cmd{}, killed: map[string]bool{}}, ctx
}

// start runs name until the supervisor stops.
func (s *supervisor) start(name string, args []string) {
	if strings.HasPrefix(name, "worker") {
		s.workers = append(s.workers, name)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for run := 0; s.ctx.Err() == nil; run++ {
			err := s.runOnce(name, run, args)
			if s.ctx.Err() != nil {
				return
			}
			s.mu.Lock()
			wasKilled := s.killed[name]
			s.killed[name] = false
			if !wasKilled {
				s.crashes++
			}
			s.mu.Unlock()
			if !wasKilled {
				fmt.Fprintf(s.o.Out, "chaos: %s exited on its own (%v); restarting in 1s\n", name, err)
				select {
				case <-s.ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
}

func (s *supervisor) runOnce(name string, run int, args []string) error {
	log, err := os.OpenFile(filepath.Join(s.o.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	fmt.Fprintf(log, "---- start %d of %s\n", run+1, name)
	cmd := exec.Command(s.o.Binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.running[name] = cmd
	s.mu.Unlock()
	err = cmd.Wait()
	s.mu.Lock()
	delete(s.running, name)
	s.mu.Unlock()
	return err
}

// killUntil SIGKILLs a random worker at seeded random intervals (between
// half and one and a half of every) until done is closed.
func (s *supervisor) killUntil(done <-chan struct{}, every time.Duration, seed int64) {
	r := rand.New(rand.NewSource(seed + 2))
	for {
		wait := every/2 + time.Duration(r.Int63n(int64(every)))
		select {
		case <-done:
			return
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
		name := s.workers[r.Intn(len(s.workers))]
		s.mu.Lock()
		if cmd := s.running[name]; cmd != nil {
			s.killed[name] = true
			_ = cmd.Process.Signal(syscall.SIGKILL)
			s.kills++
		}
		s.mu.Unlock()
	}
}

func (s *supervisor) counts() (kills, crashes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kills, s.crashes
}

// stop terminates every process and waits for them.
func (s *supervisor) stop() {
	s.cancel()
	s.mu.Lock()
	for _, cmd := range s.running {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.mu.Lock()
		for _, cmd := range s.running {
			_ = cmd.Process.Kill()
		}
		s.mu.Unlock()
		<-done
	}
}

func kadmEnds(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}
