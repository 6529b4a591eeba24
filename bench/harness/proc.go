// Package harness holds what every benchmark of bench/ needs to run the
// systems it measures: starting a process as the cluster's principal and
// stopping it with its children, reading its CPU seconds and peak
// resident set, and loading a topic with records.
package harness

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

	"github.com/tagstream/tagstream/config"
	"github.com/tagstream/tagstream/kafka"
)

// Proc is a process a benchmark started, in its own process
// group so that stopping it stops whatever it started.
type Proc struct {
	Cmd     *exec.Cmd
	Start   time.Time
	Exited  chan struct{} // closed once Wait returned; Err is then set
	Err     error
	LogPath string
	// lines receives each stdout line (never blocks: lines beyond its
	// buffer are only logged), so that a caller can wait for one.
	Lines chan string
}

// Start starts bin with args, its stdout and stderr appended to
// logPath, authenticating as c's principal through the environment (a flag
// would show the password in ps).
func Start(c kafka.Cluster, logPath, bin string, args ...string) (*Proc, error) {
	return StartCmd(c, logPath, exec.Command(bin, args...))
}

// StartCmd is Start of a command already built (its Env, Stdout, Stderr
// and SysProcAttr are set here).
func StartCmd(c kafka.Cluster, logPath string, cmd *exec.Cmd) (*Proc, error) {
	bin, args := cmd.Path, cmd.Args[1:]
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("harness: log of %s: %w", bin, err)
	}
	cmd.Env = append(os.Environ(), Env(c)...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("harness: stdout of %s: %w", bin, err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc{Cmd: cmd, Exited: make(chan struct{}), LogPath: logPath, Lines: make(chan string, 64)}
	fmt.Fprintf(logf, "--- %s %s\n", bin, strings.Join(args, " "))
	p.Start = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("harness: start %s: %w", bin, err)
	}
	// Owned by p: it ends when the process closes its stdout (at its
	// exit), then reaps the process and closes exited.
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			select {
			case p.Lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(logf, out)
		p.Err = cmd.Wait()
		close(p.Exited)
	}()
	return p, nil
}

// Stop SIGTERMs the process group and waits for the exit, SIGKILLing it
// after a minute.
func (p *Proc) Stop() {
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.Exited:
	case <-time.After(time.Minute):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.Exited
	}
}

// Env is the environment that makes a tagstream process (and the Kafka
// Streams application) authenticate as c's principal, as tagstream's own
// commands read it: a flag would show the password in ps.
func Env(c kafka.Cluster) []string {
	if !c.SASL.Enabled() {
		return nil
	}
	return []string{"TAGSTREAM_KAFKA_USER=" + c.SASL.User, "TAGSTREAM_KAFKA_PASSWORD=" + c.SASL.Password,
		"TAGSTREAM_KAFKA_SASL_MECHANISM=" + c.SASL.Mechanism}
}

// ClusterFromEnv is the cluster at brokers as the environment's
// principal, over TLS if the environment asks for it: TAGSTREAM_KAFKA_USER,
// _PASSWORD (or _PASSWORD_FILE), _SASL_MECHANISM, _TLS, _CA, _CERT and
// _KEY, read by package config as tagstream's own commands read them. The
// processes a benchmark starts inherit the same variables.
func ClusterFromEnv(brokers []string, partitions int) (kafka.Cluster, error) {
	c := config.Defaults()
	if err := config.Parse(config.FlagSet("bench", &c, "brokers"), nil); err != nil {
		return kafka.Cluster{}, err
	}
	if err := c.KafkaTLS.Load("kafka"); err != nil {
		return kafka.Cluster{}, err
	}
	return kafka.Cluster{Brokers: brokers, Partitions: partitions, TLS: c.KafkaTLS.Config,
		SASL: kafka.SASL{User: c.KafkaUser, Password: c.KafkaPassword, Mechanism: c.KafkaSASLMechanism}}, nil
}

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat's times: 100
// on every architecture Go supports (fixed in the kernel's ABI).
const clockTicks = 100

// Usage reads a live process's CPU seconds (utime + stime) and peak
// resident set (VmHWM): read while it still runs, so that its shutdown is
// not counted.
func Usage(pid int) (cpu, rssMiB float64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("harness: cpu of %d: %w", pid, err)
	}
	// The fields after the command (which may hold spaces), from field 3.
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("harness: /proc/%d/stat has %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("harness: /proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("harness: rss of %d: %w", pid, err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, 0, fmt.Errorf("harness: VmHWM %q: %w", v, err)
			}
			return (utime + stime) / clockTicks, kb / 1024, nil
		}
	}
	return 0, 0, fmt.Errorf("harness: /proc/%d/status has no VmHWM", pid)
}

// ExitUsage is the CPU seconds and peak RSS of a process that has exited,
// from its rusage (Linux reports ru_maxrss in KiB).
func (p *Proc) ExitUsage() (cpu, rssMiB float64) {
	st := p.Cmd.ProcessState
	if st == nil {
		return 0, 0
	}
	cpu = (st.UserTime() + st.SystemTime()).Seconds()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		rssMiB = float64(ru.Maxrss) / 1024
	}
	return cpu, rssMiB
}
