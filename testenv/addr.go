package testenv

import (
	"fmt"
	"net"
)

// FreeAddr is a loopback address whose port was free a moment ago, for a
// process that must be told an address before it listens (or before
// another process that must know it starts).
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("testenv: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
