package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/starting", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "views recovering", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/readyz", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) { time.Sleep(500 * time.Millisecond) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"ready", []string{srv.URL + "/readyz"}, 0},
		{"503", []string{srv.URL + "/starting"}, 1},
		{"404", []string{srv.URL + "/nothing"}, 1},
		{"redirect is not healthy", []string{srv.URL + "/moved"}, 1},
		{"timeout", []string{"-timeout", "100ms", srv.URL + "/slow"}, 1},
		{"nobody listening", []string{closedURL + "/readyz"}, 1},
		{"no URL", nil, 2},
		{"two URLs", []string{srv.URL, srv.URL}, 2},
		{"not http", []string{"ftp://127.0.0.1/readyz"}, 2},
		{"bad flag", []string{"-nope", srv.URL}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			if got := run(tc.args, &stderr); got != tc.want {
				t.Fatalf("run(%q) = %d, want %d (stderr: %s)", tc.args, got, tc.want, stderr.String())
			}
			if tc.want != 0 && stderr.Len() == 0 {
				t.Errorf("run(%q) failed without saying why", tc.args)
			}
		})
	}
}
