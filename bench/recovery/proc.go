package recovery

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tagstream/tagstream/kafka"
)

// proc is a tagstream process the harness started, in its own process
// group so that stopping it stops whatever it started.
type proc struct {
	cmd     *exec.Cmd
	start   time.Time
	exited  chan struct{} // closed once Wait returned; err is then set
	err     error
	logPath string
	// lines receives each stdout line (never blocks: lines beyond its
	// buffer are only logged), so that a caller can wait for one.
	lines chan string
}

// startProc starts bin with args, its stdout and stderr appended to
// logPath, authenticating as c's principal through the environment (a flag
// would show the password in ps).
func startProc(c kafka.Cluster, logPath, bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("recovery: log of %s: %w", bin, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env(c)...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("recovery: stdout of %s: %w", bin, err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{cmd: cmd, exited: make(chan struct{}), logPath: logPath, lines: make(chan string, 64)}
	fmt.Fprintf(logf, "--- %s %s\n", bin, strings.Join(args, " "))
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("recovery: start %s: %w", bin, err)
	}
	// Owned by p: it ends when the process closes its stdout (at its
	// exit), then reaps the process and closes exited.
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(logf, out)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop SIGTERMs the process group and waits for the exit, SIGKILLing it
// after a minute.
func (p *proc) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// env is the environment that makes a tagstream process authenticate as
// c's principal, as its own commands read it.
func env(c kafka.Cluster) []string {
	if !c.SASL.Enabled() {
		return nil
	}
	return []string{"TAGSTREAM_KAFKA_USER=" + c.SASL.User, "TAGSTREAM_KAFKA_PASSWORD=" + c.SASL.Password,
		"TAGSTREAM_KAFKA_SASL_MECHANISM=" + c.SASL.Mechanism}
}

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat's times: 100
// on every architecture Go supports (fixed in the kernel's ABI).
const clockTicks = 100

// usage reads a live process's CPU seconds (utime + stime) and peak
// resident set (VmHWM): read while it still runs, so that its shutdown is
// not counted.
func usage(pid int) (cpu, rssMiB float64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("recovery: cpu of %d: %w", pid, err)
	}
	// The fields after the command (which may hold spaces), from field 3.
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("recovery: /proc/%d/stat has %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("recovery: /proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("recovery: rss of %d: %w", pid, err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, 0, fmt.Errorf("recovery: VmHWM %q: %w", v, err)
			}
			return (utime + stime) / clockTicks, kb / 1024, nil
		}
	}
	return 0, 0, fmt.Errorf("recovery: /proc/%d/status has no VmHWM", pid)
}

// exitUsage is the CPU seconds and peak RSS of a process that has exited,
// from its rusage (Linux reports ru_maxrss in KiB).
func exitUsage(p *proc) (cpu, rssMiB float64) {
	st := p.cmd.ProcessState
	if st == nil {
		return 0, 0
	}
	cpu = (st.UserTime() + st.SystemTime()).Seconds()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		rssMiB = float64(ru.Maxrss) / 1024
	}
	return cpu, rssMiB
}
