package testenv

import (
	"context"
	"errors"
	"net"
	"sync"
)

// Faults is a dialer a test owns to cut a client off a shared service
// without touching the service: Break closes every connection made through
// it and refuses new ones, Heal lets them through again. Other tests using
// the same service see nothing. It implements gocql.Dialer (and the
// DialContext of net.Dialer).
type Faults struct {
	mu     sync.Mutex
	broken bool
	conns  map[net.Conn]struct{}
	d      net.Dialer
}

// ErrBroken is what a dial through a broken Faults returns.
var ErrBroken = errors.New("testenv: connection cut by the test")

// DialContext dials addr unless the faults are broken.
func (f *Faults) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	broken := f.broken
	f.mu.Unlock()
	if broken {
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrBroken}
	}
	c, err := f.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken { // broken while dialling
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrBroken}
	}
	if f.conns == nil {
		f.conns = map[net.Conn]struct{}{}
	}
	tc := &trackedConn{Conn: c, f: f}
	f.conns[tc] = struct{}{}
	return tc, nil
}

// Break closes every open connection and refuses new ones.
func (f *Faults) Break() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.broken = true
	for c := range f.conns {
		c.(*trackedConn).Conn.Close()
	}
	f.conns = nil
}

// Heal lets connections through again.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.broken = false
}

type trackedConn struct {
	net.Conn
	f *Faults
}

func (c *trackedConn) Close() error {
	c.f.mu.Lock()
	delete(c.f.conns, c)
	c.f.mu.Unlock()
	return c.Conn.Close()
}
