// Command readpath is the Go half of scripts/bench-read.sh, the read-path
// benchmark of issue 13: tagstream's GET /v1/hashtags/{tag} against nginx
// serving the very same bodies as files, under wrk.
//
//	readpath fill    image posts for the hottest hashtags and likes, onto
//	                 the embedded broker, after `tagstream load` (same
//	                 seed and options); waits until the hot pages show
//	                 100 top posts
//	readpath pages   chooses the pages (the hottest and a seeded sample of
//	                 the tail), fetches each once, writes its body under an
//	                 nginx root and the URL list wrk walks, and the page mix
//	readpath verify  fetches the pages again and counts bodies that changed
//	readpath lua     prints the wrk script (walk.lua)
//	readpath wrk     one wrk run's output (stdin) to one JSON line
//	readpath report  the runs and the mix to bench/results JSON and Markdown
//
// Invariants, checked in readpath_test.go:
//   - The posts `tagstream load` produced are regenerated exactly
//     (load.NewGenerator, same options), so the hot set is the hashtags
//     with the most posts, chosen without asking the API.
//   - Every hot hashtag gets at least ImagesPerHot image posts, each post
//     with distinct hashtags; each image post has at least 2 likes and a
//     load post at most 1, so image posts fill the top 100 of a hot page.
//   - The same seed gives the same pages, the same URL order and the same
//     posts, likes and image ids.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

//go:embed walk.lua
var walkLua string

const usage = `usage: readpath fill|pages|verify|lua|wrk|report [flags]   (readpath CMD -h for flags)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "fill":
		err = runFill(ctx, args)
	case "pages":
		err = runPages(ctx, args)
	case "verify":
		err = runVerify(ctx, args)
	case "lua":
		_, err = fmt.Print(walkLua)
	case "wrk":
		err = runWrk(args, os.Stdin, os.Stdout)
	case "report":
		err = runReport(args)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "readpath:", err)
		os.Exit(1)
	}
}
