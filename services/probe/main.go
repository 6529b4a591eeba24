// Command probe checks that a local service answers its own protocol, not just
// that its port is open. It is the health check of the services/*.sh scripts:
//
//	probe cql [-timeout 5s] [-keyspace KS] [-user U -password-file F] [-e STATEMENT]... HOST:PORT
//
// With no -e it opens a real CQL session, runs
// `SELECT release_version FROM system.local`, prints the version and exits 0.
// Each -e runs that statement instead, in order, printing any rows it returns
// (one line a row, col=value), which makes it a tiny non-interactive cqlsh.
// With -user it logs in as that role (Cassandra's PasswordAuthenticator),
// its password read from -password-file, never from the command line,
// which every process listing shows. Any failure prints the error and
// exits 1; bad usage exits 2.
//
// Each service is a subcommand word, so others (s3, kafka, ...) can be added to
// the probes table below.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// probes maps a subcommand word to its implementation; args exclude the word.
var probes = map[string]func(args []string) error{
	"cql": cqlProbe,
}

var errUsage = errors.New("usage")

func main() {
	log.SetFlags(0)
	log.SetPrefix("probe: ")
	if len(os.Args) < 2 || probes[os.Args[1]] == nil {
		usage()
		os.Exit(2)
	}
	if err := probes[os.Args[1]](os.Args[2:]); err != nil {
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		log.Printf("%s: %v", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	words := make([]string, 0, len(probes))
	for w := range probes {
		words = append(words, w)
	}
	sort.Strings(words)
	fmt.Fprintf(os.Stderr, "usage: probe %s [flags] ADDR\n", strings.Join(words, "|"))
}

// deadline ends the process if a probe hangs past d, whatever the client
// library is doing: a health probe must never block its caller.
func deadline(d time.Duration) {
	time.AfterFunc(d, func() {
		log.Printf("%s: no answer within %v", os.Args[1], d)
		os.Exit(1)
	})
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, "; ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cqlProbe(args []string) error {
	fs := flag.NewFlagSet("cql", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 5*time.Second, "connect and per-statement timeout")
	keyspace := fs.String("keyspace", "", "keyspace of the session")
	user := fs.String("user", "", "role to log in as (PasswordAuthenticator); empty: no login")
	passwordFile := fs.String("password-file", "", "file holding -user's password (one trailing newline dropped)")
	var stmts stringList
	fs.Var(&stmts, "e", "CQL statement to run instead of the health query (repeatable, run in order)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: probe cql [flags] HOST:PORT")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	host, portStr, err := net.SplitHostPort(fs.Arg(0))
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("bad port %q", portStr)
	}
	deadline(*timeout * time.Duration(2+len(stmts)))

	cluster := gocql.NewCluster(host)
	cluster.Port = port
	cluster.ProtoVersion = 4 // Cassandra 3.x-5.x; skips version negotiation
	cluster.Timeout = *timeout
	cluster.ConnectTimeout = *timeout
	cluster.NumConns = 1
	cluster.Consistency = gocql.One
	cluster.DisableInitialHostLookup = true // one node; don't chase peers
	cluster.Keyspace = *keyspace
	cluster.Logger = log.New(io.Discard, "", 0)
	if *user != "" {
		b, err := os.ReadFile(*passwordFile)
		if err != nil {
			return fmt.Errorf("-password-file: %w", err)
		}
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: *user, Password: strings.TrimSuffix(string(b), "\n")}
	}
	session, err := cluster.CreateSession()
	if err != nil {
		return fmt.Errorf("connect %s: %w", fs.Arg(0), err)
	}
	defer session.Close()

	if len(stmts) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		var version string
		err := session.Query(`SELECT release_version FROM system.local`).
			WithContext(ctx).Scan(&version)
		if err != nil {
			return err
		}
		fmt.Println(version)
		return nil
	}
	for _, stmt := range stmts {
		if err := runCQL(session, stmt, *timeout, os.Stdout); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// runCQL runs one statement and prints its rows, if any, as col=value lines.
func runCQL(s *gocql.Session, stmt string, timeout time.Duration, w io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	iter := s.Query(stmt).WithContext(ctx).Iter()
	cols := iter.Columns()
	for {
		row := map[string]interface{}{}
		if !iter.MapScan(row) {
			break
		}
		parts := make([]string, len(cols))
		for i, c := range cols {
			parts[i] = fmt.Sprintf("%s=%v", c.Name, row[c.Name])
		}
		fmt.Fprintln(w, strings.Join(parts, " "))
	}
	return iter.Close()
}
