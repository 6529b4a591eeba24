// Command healthprobe is the container health check of the tagstream image.
// The image is distroless (no shell, curl or wget), so it carries this one
// static HTTP GET instead:
//
//	healthprobe [-timeout 3s] http://127.0.0.1:8080/readyz
//
// It exits 0 if the URL answers 2xx within the timeout, 1 if it answers
// anything else or not at all, and 2 on bad usage. It never follows a proxy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthprobe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: healthprobe [-timeout 3s] http://127.0.0.1:8080/readyz")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "healthprobe: %q is not an http(s) URL\n", fs.Arg(0))
		return 2
	}
	if err := probe(u.String(), *timeout); err != nil {
		fmt.Fprintln(stderr, "healthprobe:", err)
		return 1
	}
	return 0
}

func probe(target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirected")
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	return nil
}
