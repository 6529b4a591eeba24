package pipeline

import (
	"net"
	"testing"
	"time"
)

// With a limit of 2, a third connection is not accepted while two are
// open, and is as soon as one of them closes; Close frees a waiting Accept.
func TestLimitListenerHoldsAtMostN(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListen(inner, 2)
	defer ln.Close()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	a, _ := ln.Accept()
	if _, err := ln.Accept(); err != nil {
		t.Fatal(err)
	}
	third := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		third <- c
	}()
	// Nothing can be awaited for "not accepted": give it a moment.
	select {
	case <-third:
		t.Fatal("a third connection was accepted while two were open")
	case <-time.After(200 * time.Millisecond):
	}
	a.Close()
	select {
	case c := <-third:
		if c == nil {
			t.Fatal("Accept failed after a connection closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the third connection was not accepted after one closed")
	}

	blocked := make(chan error, 1)
	go func() { _, err := ln.Accept(); blocked <- err }()
	ln.Close()
	if err := <-blocked; err == nil {
		t.Fatal("Accept returned a connection after Close")
	}
}
