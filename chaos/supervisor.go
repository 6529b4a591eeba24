package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// supervisor keeps the processes running as an orchestrator would: a
// process that exits is started again under the same name and arguments
// (so a worker keeps its instance id), after a second if it crashed on
// its own, at once if chaos killed it. Every start, exit and kill goes to
// the journal.
type supervisor struct {
	ctx    context.Context
	cancel context.CancelFunc
	o      Options
	j      *journal
	wg     sync.WaitGroup

	mu      sync.Mutex
	procs   map[string]*proc
	workers []string
	kills   int
	crashes int
}

// proc is what the supervisor knows of one named process.
type proc struct {
	cmd    *exec.Cmd // nil while it is not running
	killed bool      // the running instance was SIGKILLed by chaos
	starts int
	// crashes lists the times it exited on its own, most recent last.
	crashes []time.Time
	lastErr error
	since   time.Time // when the running instance started
}

func newSupervisor(ctx context.Context, o Options, j *journal) (*supervisor, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &supervisor{ctx: ctx, cancel: cancel, o: o, j: j, procs: map[string]*proc{}}, ctx
}

// start runs name, with env added to its environment, until the
// supervisor stops.
func (s *supervisor) start(name string, env, args []string) {
	s.mu.Lock()
	if strings.HasPrefix(name, "worker") || name == "rank" {
		s.workers = append(s.workers, name) // the processes chaos kills
	}
	s.procs[name] = &proc{}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for s.ctx.Err() == nil {
			err := s.runOnce(name, env, args)
			if s.ctx.Err() != nil {
				return
			}
			s.mu.Lock()
			p := s.procs[name]
			wasKilled := p.killed
			p.killed = false
			if !wasKilled {
				s.crashes++
				p.crashes = append(p.crashes, time.Now())
				p.lastErr = err
			}
			s.mu.Unlock()
			if !wasKilled {
				s.j.event("%s exited on its own (%v); restarting in 1s", name, err)
				select {
				case <-s.ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
}

func (s *supervisor) runOnce(name string, env, args []string) error {
	log, err := os.OpenFile(filepath.Join(s.o.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(s.o.Binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	s.mu.Lock()
	p := s.procs[name]
	p.starts++
	run := p.starts
	s.mu.Unlock()
	fmt.Fprintf(log, "---- start %d of %s at %s\n", run, name, time.Now().UTC().Format("15:04:05.000"))
	if err := cmd.Start(); err != nil {
		s.j.event("%s start %d failed: %v", name, run, err)
		return err
	}
	s.j.event("%s start %d, pid %d", name, run, cmd.Process.Pid)
	s.mu.Lock()
	p.cmd, p.since = cmd, time.Now()
	s.mu.Unlock()
	err = cmd.Wait()
	s.mu.Lock()
	p.cmd = nil
	s.mu.Unlock()
	fmt.Fprintf(log, "---- exit of %s start %d at %s: %v\n", name, run, time.Now().UTC().Format("15:04:05.000"), err)
	s.j.event("%s pid %d exited: %v", name, cmd.Process.Pid, err)
	return err
}

// killUntil SIGKILLs a random worker at seeded random intervals (between
// half and one and a half of every) until done is closed; with probability
// burst it kills two workers at once. Among names if given, else among
// every worker and the ranking.
func (s *supervisor) killUntil(done <-chan struct{}, every time.Duration, burst float64, seed int64, names []string) {
	r := rand.New(rand.NewSource(seed + 2))
	workers := s.workers
	if names != nil {
		workers = names
	}
	for {
		wait := every/2 + time.Duration(r.Int63n(int64(every)))
		select {
		case <-done:
			return
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
		victims := []string{workers[r.Intn(len(workers))]}
		if len(workers) > 1 && r.Float64() < burst {
			other := workers[r.Intn(len(workers)-1)]
			if other == victims[0] {
				other = workers[len(workers)-1]
			}
			victims = append(victims, other)
		}
		s.mu.Lock()
		for _, name := range victims {
			p := s.procs[name]
			if p.cmd == nil {
				s.j.event("SIGKILL %s skipped: not running", name)
				continue
			}
			p.killed = true
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			s.kills++
			s.j.event("SIGKILL %s pid %d (up %.1fs)", name, p.cmd.Process.Pid, time.Since(p.since).Seconds())
		}
		s.mu.Unlock()
	}
}

func (s *supervisor) counts() (kills, crashes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kills, s.crashes
}

// unrecovered describes the processes that are down now or exited on
// their own after since; empty if all of them are up and stayed up.
func (s *supervisor) unrecovered(since time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	names := make([]string, 0, len(s.procs))
	for n := range s.procs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := s.procs[n]
		after := 0
		for _, t := range p.crashes {
			if t.After(since) {
				after++
			}
		}
		switch {
		case after > 0:
			out = append(out, fmt.Sprintf("%s exited %d times on its own after the load ended (last: %v)", n, after, p.lastErr))
		case p.cmd == nil:
			out = append(out, n+" is not running")
		}
	}
	return strings.Join(out, "; ")
}

// stop terminates every process and waits for them.
func (s *supervisor) stop() {
	s.cancel()
	signal := func(sig syscall.Signal) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.procs {
			if p.cmd != nil {
				_ = p.cmd.Process.Signal(sig)
			}
		}
	}
	signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.j.event("processes still running 30s after SIGTERM; SIGKILL")
		signal(syscall.SIGKILL)
		<-done
	}
}
