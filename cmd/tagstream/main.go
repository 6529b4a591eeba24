// Command tagstream is the hashtag service and photo pipeline: one binary
// whose subcommands run the pipeline, its pieces, and its tools. This file
// only wires flags to packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/backup"
	"github.com/tagstream/tagstream/config"
	"github.com/tagstream/tagstream/deadletters"
	"github.com/tagstream/tagstream/edge"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/load"
	"github.com/tagstream/tagstream/logbuf"
	"github.com/tagstream/tagstream/media"
	"github.com/tagstream/tagstream/pipeline"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/replay"
	"github.com/tagstream/tagstream/snapshot"
	"github.com/tagstream/tagstream/token"
	"github.com/tagstream/tagstream/topology"
)

// Flags shared by the commands that serve or store photos, and by those
// that talk to the Cassandra snapshot.
var (
	s3Flags       = []string{"s3-endpoint", "s3-access-key", "s3-secret-key", "s3-region", "s3-bucket", "s3-ca"}
	mediaFlags    = []string{"s3-endpoint", "s3-public-endpoint", "s3-access-key", "s3-secret-key", "s3-region", "s3-bucket", "s3-ca", "s3-create-bucket", "image-keys", "upload-max-size", "image-widths", "image-decode-budget"}
	snapshotFlags = []string{"cassandra", "keyspace", "keyspace-replication", "snapshot-interval"}
)

const usage = `tagstream: hashtag counts and top posts from a stream of posts

usage: tagstream <command> [flags]

commands:
  run             everything in one process on an embedded Kafka broker
  worker          the processors, against --brokers
  rank            the ranking (top posts by likes and age) and the trending hashtags, against --brokers
  api             the views (or --source cassandra) and the HTTP API, against --brokers
  snapshot        batched snapshots of the hashtag tables into --cassandra
  replay          rebuild the state from --from of the posts log in a new generation, then switch to it
  backup          copy the source of truth, the posts and likes logs, into --backup-dir
  restore         write a backup into an empty deployment's posts and likes; its workers rebuild the rest
  hashtags        JSON Lines captions on stdin -> JSON arrays of hashtags
  emit top-posts  JSON Lines top-post documents on stdin -> hashtag-top-posts
  token           mint a bearer token for --user
  acls            print each role's Kafka ACLs, or apply them: tagstream acls api=USER worker=USER ...
  load            generate posts and check the counts the API serves
  dead-letters    print the rejected input records, one line each (--follow for new ones)
  dead-letters republish  send chosen dead letters' records back to posts or likes
  s3-init         create the photos' bucket and put its CORS rule, with an admin key (for an API whose key may not)
  purge           make the edges of --edge-purge forget a hashtag's page, an image, or all pages

Every flag can also be set as TAGSTREAM_<FLAG>; "tagstream <command> -h" says what
the command is for, what it reads and writes, and lists its flags.
"tagstream --version" prints the version and the commit it was built from.
`

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := dispatch(ctx, os.Args[1:], os.Stdin, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tagstream:", err)
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, args []string, in io.Reader, out io.Writer) (err error) {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command")
	}
	cmd, args := args[0], args[1:]
	defer closeAll()
	defer func() { logStop(err); logStop = func(error) {} }()
	if err := config.CheckEnv(os.Environ()); err != nil {
		return err
	}
	c := config.Defaults()
	switch cmd {
	case "run":
		fs := config.FlagSet(cmd, &c, append(append([]string{"data", "demo", "http", "kafka-listen", "namespace", "partitions", "state-dir", "secret", "cdn-base", "cors-origins",
			"edge-purge", "edge-purge-interval", "edge-max-age",
			"exactly-once", "commit-interval", "pprof", "log-level", "token-max-ttl", "write-rate", "write-burst", "max-connections",
			"rank", "rank-interval", "rank-half-life"}, mediaFlags...), snapshotFlags...)...)
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		var snap *snapshot.Config
		if len(c.Snapshot.Cassandra) > 0 {
			s := snapshotConfig(c) // pipeline.Embedded creates its schema
			snap = &s
		}
		var rank *processors.RankOptions
		if c.Rank.On {
			r := rankOptions(c)
			rank = &r
		}
		return pipeline.Embedded(ctx, pipeline.EmbeddedOptions{
			Data: c.Data, KafkaListen: c.KafkaListen, HTTP: c.HTTP, Out: out,
			Cluster: cluster(c), API: apiConfig(c), Processors: processorOptions(c), Rank: rank,
			Media: mediaOptions(c), Snapshot: snap, MaxConnections: c.MaxConnections, Demo: c.Demo, Edge: edgeOptions(c),
		})
	case "worker":
		fs := config.FlagSet(cmd, &c, "brokers", "partitions", "replication", "state-dir", "instance-id", "exactly-once", "groups", "commit-interval", "pprof", "metrics", "log-level")
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		return ignoreCancel(pipeline.Worker(ctx, cluster(c), processorOptions(c)))
	case "rank":
		fs := config.FlagSet(cmd, &c, "brokers", "partitions", "replication", "state-dir", "instance-id", "rank-interval", "rank-half-life", "pprof", "metrics", "log-level")
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		return ignoreCancel(pipeline.Rank(ctx, cluster(c), rankOptions(c)))
	case "api":
		fs := config.FlagSet(cmd, &c, append([]string{"brokers", "partitions", "replication", "state-dir", "http", "secret", "cdn-base", "cors-origins",
			"edge-purge", "edge-purge-interval", "edge-max-age", "pprof", "log-level",
			"token-max-ttl", "write-rate", "write-burst", "max-connections", "source", "cassandra", "keyspace"}, mediaFlags...)...)
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		if len(c.Secret) < token.MinSecretLen {
			return fmt.Errorf("api needs --secret (or TAGSTREAM_SECRET) of at least %d bytes", token.MinSecretLen)
		}
		m := mediaOptions(c)
		// No key file by default: replicas share --secret, so they derive
		// the same image key from it.
		m.DeriveFrom = []byte(c.Secret)
		return ignoreCancel(pipeline.API(ctx, pipeline.APIOptions{Namespace: namespace(c),
			Cluster: cluster(c), HTTP: c.HTTP, API: apiConfig(c), Media: m, MaxConnections: c.MaxConnections,
			Source: c.Snapshot.Source, Snapshot: snapshotConfig(c), Edge: edgeOptions(c),
			Listening: func(addr string) {
				fmt.Fprintf(out, "tagstream api listening on http://%s\n  pages from: %s\n  storage: %s\n", addr, c.Snapshot.Source, m.Describe())
			},
		}))
	case "snapshot":
		// Its own port, so it can run next to an API on the defaults.
		c.HTTP = "127.0.0.1:8081"
		fs := config.FlagSet(cmd, &c, append([]string{"brokers", "http", "pprof", "log-level", "init-schema"}, snapshotFlags...)...)
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		s := snapshotConfig(c)
		if c.Snapshot.InitSchema {
			return initSchema(ctx, out, s)
		}
		s.Brokers = c.Brokers
		return ignoreCancel(pipeline.Snapshot(ctx, pipeline.SnapshotOptions{Namespace: namespace(c),
			Snapshot: s, HTTP: c.HTTP, Cluster: cluster(c),
			Listening: func(addr string) {
				fmt.Fprintf(out, "tagstream snapshot: %v -> Cassandra %v, keyspace %s, every %s; health on http://%s\n",
					c.Brokers, s.Cassandra, c.Snapshot.Keyspace, c.Snapshot.Interval, addr)
			},
		}))
	case "purge":
		fs := config.FlagSet(cmd, &c, "edge-purge", "hard", "log-level")
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		return purge(ctx, out, c.Edge, fs.Args())
	case "hashtags":
		fs := config.FlagSet(cmd, &c, "keys")
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		return ignoreCancel(hashtagLines(ctx, in, out, os.Stderr, c.Keys))
	case "emit":
		if len(args) == 0 || args[0] != "top-posts" {
			return errors.New("usage: tagstream emit top-posts [flags] < documents.jsonl")
		}
		fs := config.FlagSet("emit top-posts", &c, "brokers", "partitions", "replication")
		if err := config.Parse(withHelp(fs), args[1:]); err != nil {
			return err
		}
		if err := c.KafkaTLS.Load("kafka"); err != nil {
			return err
		}
		return ignoreCancel(emitTopPosts(ctx, cluster(c), namespace(c), in, os.Stderr))
	case "replay":
		fs := config.FlagSet(cmd, &c, "brokers", "partitions", "replication", "from", "log-level", "rank", "rank-interval", "rank-half-life")
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		from, err := replay.ParseFrom(c.From)
		if err != nil {
			return err
		}
		o := replay.Options{Cluster: cluster(c), Namespace: namespace(c), From: from, Progress: out}
		if c.Rank.On {
			r := rankOptions(c)
			o.Rank = &r
		}
		_, err = replay.Run(ctx, o)
		return err
	case "backup", "restore":
		fs := config.FlagSet(cmd, &c, "brokers", "partitions", "replication", "backup-dir", "log-level")
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		o := backup.Options{Cluster: cluster(c), Namespace: namespace(c), Dir: c.BackupDir, Progress: out}
		var err error
		if cmd == "backup" {
			_, err = backup.Take(ctx, o)
		} else {
			_, err = backup.Restore(ctx, o)
		}
		return err
	case "acls":
		fs := config.FlagSet(cmd, &c, "brokers", "create-users", "api-password", "worker-password", "rank-password", "reader-password")
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		var passwords map[string]string
		if c.CreateUsers {
			passwords = c.RolePasswords
			if passwords == nil {
				passwords = map[string]string{}
			}
		}
		return acls(ctx, cluster(c), namespace(c), fs.Args(), passwords, out)
	case "s3-init":
		fs := config.FlagSet(cmd, &c, append(s3Flags, "cors-origins", "log-level")...)
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		return s3Init(ctx, mediaOptions(c).S3, c.CORSOrigins, out)
	case "token":
		fs := config.FlagSet(cmd, &c, "user", "ttl", "token-max-ttl", "secret", "data")
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		secret := []byte(c.Secret)
		if len(secret) == 0 {
			var err error
			if secret, err = token.LoadOrCreateSecret(c.Data); err != nil {
				return err
			}
		}
		tok, err := token.Mint(secret, c.User, c.TTL, c.TokenMaxTTL)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, tok)
		return nil
	case "load":
		fs := config.FlagSet(cmd, &c, "brokers", "posts", "seed", "via", "api", "users", "tags",
			"per-post", "zipf", "likes", "concurrency", "timeout", "secret", "data")
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		secret := []byte(c.Secret)
		if len(secret) == 0 && c.Load.Via == "api" {
			var err error
			if secret, err = token.LoadOrCreateSecret(c.Data); err != nil {
				return err
			}
		}
		res, err := load.Run(ctx, load.Options{Namespace: namespace(c),
			Cluster: cluster(c), Posts: c.Load.Posts, Seed: c.Load.Seed, Via: c.Load.Via,
			API: c.Load.API, Users: c.Load.Users, Tags: c.Load.Tags, PerPost: c.Load.PerPost,
			Zipf: c.Load.Zipf, Likes: c.Load.Likes, Concurrency: c.Load.Concurrency, Timeout: c.Load.Timeout,
			Secret: secret, Progress: os.Stderr,
		})
		if res != nil {
			fmt.Fprintln(out, res)
		}
		return err
	case "dead-letters":
		if len(args) > 0 && args[0] == "republish" {
			fs := config.FlagSet("dead-letters republish", &c, "brokers", "from", "reason", "source-topic", "offsets", "dry-run")
			if err := parse(fs, args[1:], &c); err != nil {
				return err
			}
			sel, err := deadLetterSelection(c)
			if err != nil {
				return err
			}
			return deadletters.Republish(ctx, deadletters.RepublishOptions{Cluster: cluster(c), Namespace: namespace(c),
				Selection: sel, DryRun: c.DeadLetters.DryRun, Out: out})
		}
		fs := config.FlagSet(cmd, &c, "brokers", "from", "reason", "source-topic", "follow", "json")
		if err := parse(fs, args, &c); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("dead-letters: unexpected %q (the sub-command is \"dead-letters republish\")", fs.Arg(0))
		}
		sel, err := deadLetterSelection(c)
		if err != nil {
			return err
		}
		return ignoreCancel(deadletters.List(ctx, deadletters.ListOptions{Cluster: cluster(c), Namespace: namespace(c),
			Selection: sel, Follow: c.DeadLetters.Follow, JSON: c.DeadLetters.JSON, Out: out}))
	case "-h", "--help", "help":
		fmt.Fprint(out, usage)
		return nil
	case "--version", "-version", "version":
		version(out)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// parse reads flags and environment, sets up the logs, then starts the
// profiler and the metrics listener if asked.
func parse(fs *flag.FlagSet, args []string, c *config.Config) error {
	if err := config.Parse(withHelp(fs), args); err != nil {
		return err
	}
	if err := c.KafkaTLS.Load("kafka"); err != nil {
		return err
	}
	if err := c.Snapshot.TLS.Load("cassandra"); err != nil {
		return err
	}
	if err := topology.Namespace(c.Namespace).Valid(); err != nil {
		return fmt.Errorf("--namespace: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	// Buffered: a line per request must not cost a write each (logbuf).
	buf := logbuf.New(logOutput)
	closers = append(closers, func() { buf.Close() })
	var h slog.Handler = slog.NewTextHandler(buf, opts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(buf, opts)
	}
	slog.SetDefault(slog.New(logbuf.NewHandler(h, buf)))
	if serving[fs.Name()] {
		// Start and stop, so that a log alone tells a restart apart from
		// a quiet process.
		slog.Info("starting", "command", fs.Name(), "version", versionString(), "pid", os.Getpid())
		logStop = func(err error) { slog.Info("stopped", "command", fs.Name(), "err", err) }
	}
	if c.Pprof != "" {
		stop, err := pipeline.ServePprof(c.Pprof)
		if err != nil {
			return err
		}
		closers = append(closers, stop)
	}
	if c.Metrics != "" {
		stop, err := pipeline.ServeMetrics(c.Metrics)
		if err != nil {
			return err
		}
		closers = append(closers, stop)
	}
	return nil
}

// logOutput is where logs go: stderr (tests read it).
var logOutput io.Writer = os.Stderr

// serving are the commands that run until stopped: they log their start
// and stop.
var serving = map[string]bool{"tagstream run": true, "tagstream worker": true, "tagstream rank": true,
	"tagstream api": true, "tagstream snapshot": true, "tagstream replay": true}

// logStop logs a serving command's stop; dispatch calls it with the
// command's error.
var logStop = func(error) {}

// closers are what parse started: the log buffer, then the profiler and
// the metrics listener if asked. dispatch closes them in reverse order
// (closeAll), so the log buffer is flushed last, after every other line.
var closers []func()

func closeAll() {
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	closers = nil
}

func cluster(c config.Config) kafka.Cluster {
	if c.KafkaTLS.Enabled() && c.KafkaTLS.Config == nil {
		// A command that skipped KafkaTLS.Load would talk plaintext to
		// a cluster it was told to reach over TLS.
		panic("tagstream: --kafka-tls given but never loaded")
	}
	return kafka.Cluster{Brokers: c.Brokers, Partitions: c.Partitions, Replication: c.Replication, StateDir: c.StateDir,
		SASL: kafka.SASL{Mechanism: c.KafkaSASLMechanism, User: c.KafkaUser, Password: c.KafkaPassword}, TLS: c.KafkaTLS.Config}
}

func deadLetterSelection(c config.Config) (deadletters.Selection, error) {
	from, err := deadletters.ParseFrom(c.From)
	if err != nil {
		return deadletters.Selection{}, err
	}
	at, err := deadletters.ParsePositions(c.DeadLetters.Offsets)
	if err != nil {
		return deadletters.Selection{}, err
	}
	return deadletters.Selection{From: from, Reasons: c.DeadLetters.Reasons, SourceTopics: c.DeadLetters.SourceTopics, Positions: at}, nil
}

func processorOptions(c config.Config) processors.Options {
	return processors.Options{Gen: namespace(c).Gen(0), InstanceID: c.InstanceID, AtLeastOnce: !c.ExactlyOnce, CommitInterval: c.CommitInterval, Groups: c.Groups}
}

func rankOptions(c config.Config) processors.RankOptions {
	return processors.RankOptions{Gen: namespace(c).Gen(0), InstanceID: c.InstanceID, Interval: c.Rank.Interval, HalfLife: c.Rank.HalfLife}
}

func namespace(c config.Config) topology.Namespace { return topology.Namespace(c.Namespace) }

func apiConfig(c config.Config) api.Config {
	a := api.Config{Secret: []byte(c.Secret), CDNBase: c.CDNBase, TokenMaxTTL: c.TokenMaxTTL,
		WriteRate: c.WriteRate, WriteBurst: c.WriteBurst, CORSOrigins: c.CORSOrigins}
	// Only an edge told of every change may keep pages past max-age.
	if len(c.Edge.Purge) > 0 {
		a.EdgeMaxAge = c.Edge.MaxAge
	}
	return a
}

// purge purges targets (edge.Target) at every edge of e.Purge, and says
// what it purged.
func purge(ctx context.Context, out io.Writer, e config.Edge, targets []string) error {
	if len(e.Purge) == 0 {
		return errors.New("purge needs --edge-purge: the edges to purge")
	}
	keys, err := edge.PurgeTargets(ctx, &edge.Varnish{URLs: e.Purge, Hard: e.Hard}, targets)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "purged %s at %d edge(s), hard %v\n", keys, len(e.Purge), e.Hard)
	return nil
}

// s3Init creates the bucket if missing and puts its CORS rule, so that an
// API given a key limited to the bucket (--s3-create-bucket=false) finds
// it ready. It needs a key that may create buckets.
func s3Init(ctx context.Context, c media.S3Config, origins []string, out io.Writer) error {
	if c.Endpoint == "" {
		return errors.New("s3-init needs --s3-endpoint")
	}
	c.CORSOrigins = origins
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c.CreateBucket = true
	if _, err := media.NewS3(ctx, c); err != nil {
		return err
	}
	cors := "left as it was (no --cors-origins)"
	if len(origins) > 0 {
		cors = "POST from " + strings.Join(origins, ",")
	}
	fmt.Fprintf(out, "bucket %s ready at %s; CORS: %s\n", c.Bucket, c.Endpoint, cors)
	return nil
}

// edgeOptions are the purges of --edge-purge; nil without edges.
func edgeOptions(c config.Config) *pipeline.EdgeOptions {
	if len(c.Edge.Purge) == 0 {
		return nil
	}
	o := &pipeline.EdgeOptions{Queue: edge.QueueConfig{Interval: c.Edge.Interval}}
	for _, u := range c.Edge.Purge {
		o.Purgers = append(o.Purgers, &edge.Varnish{URLs: []string{u}})
	}
	return o
}

func mediaOptions(c config.Config) pipeline.MediaOptions {
	m := c.Media
	return pipeline.MediaOptions{
		S3: media.S3Config{Endpoint: m.S3Endpoint, PublicEndpoint: m.S3PublicEndpoint, AccessKey: m.S3AccessKey,
			SecretKey: m.S3SecretKey, Region: m.S3Region, Bucket: m.S3Bucket, CAFile: m.S3CA, CreateBucket: m.S3CreateBucket},
		Keys:    m.ImageKeys,
		Uploads: media.UploadConfig{MaxSize: m.UploadMaxSize},
		Origin:  media.OriginConfig{Widths: m.ImageWidths, DecodeBudget: m.DecodeBudget},
	}
}

// snapshotConfig is the Cassandra side of the snapshot; an empty
// --cassandra means Cassandra's standard port on this machine (run checks
// for an empty --cassandra before, to mean no snapshotter).
func snapshotConfig(c config.Config) snapshot.Config {
	s := c.Snapshot
	if len(s.Cassandra) == 0 {
		s.Cassandra = []string{snapshot.DefaultCassandra}
	}
	if s.TLS.Enabled() && s.TLS.Config == nil {
		// As cluster's: never plaintext to a Cassandra told to be TLS.
		panic("tagstream: --cassandra-tls given but never loaded")
	}
	return snapshot.Config{Cassandra: s.Cassandra, Keyspace: s.Keyspace, Replication: s.Replication, Interval: s.Interval,
		LocalDC: s.LocalDC, Consistency: s.Consistency,
		User: s.User, Password: s.Password, TLS: s.TLS.Config}
}

// initSchemaTimeout bounds `snapshot --init-schema`: a dozen DDL
// statements, each followed by gocql's wait for the nodes to agree on the
// schema (up to a minute on a loaded cluster).
const initSchemaTimeout = 3 * time.Minute

// initSchema is `tagstream snapshot --init-schema`.
func initSchema(ctx context.Context, out io.Writer, s snapshot.Config) error {
	ctx, cancel := context.WithTimeout(ctx, initSchemaTimeout)
	defer cancel()
	if err := snapshot.InitSchema(ctx, s); err != nil {
		return err
	}
	fmt.Fprintf(out, "tagstream snapshot: schema of keyspace %s ready on Cassandra %v\n", s.Keyspace, s.Cassandra)
	return nil
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
