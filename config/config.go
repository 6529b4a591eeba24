// Package config is the one place that reads tagstream's flags and
// TAGSTREAM_* environment variables into a Config with defaults.
//
// Precedence: a flag on the command line, then TAGSTREAM_<FLAG> (upper case,
// '-' as '_'), then the default.
package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is every setting of every subcommand; each subcommand binds the
// flags it uses.
type Config struct {
	// Brokers is --brokers: Kafka bootstrap servers, comma-separated.
	Brokers []string
	// Data is --data: the directory of `tagstream run`'s broker, state and secret.
	Data string
	// HTTP is --http: the API's listen address.
	HTTP string
	// KafkaListen is --kafka-listen: where the embedded broker listens.
	KafkaListen string
	// Partitions is --partitions: partitions of every created topic.
	Partitions int
	// Replication is --replication: replication factor of created topics.
	Replication int
	// StateDir is --state-dir: goka's local table storage; empty = memory.
	StateDir string
	// Secret is --secret: the HS256 secret of bearer tokens.
	Secret string
	// CDNBase is --cdn-base: the base URL of image URLs.
	CDNBase string
	// User is --user: the subject of a minted token.
	User string
	// TTL is --ttl: how long a minted token is valid.
	TTL time.Duration
	// Pprof is --pprof: if set, the address of net/http/pprof.
	Pprof string
	// Keys is --keys: `hashtags` prints distinct normalised keys.
	Keys bool
	// InstanceID is --instance-id: this worker's stable, unique name
	// (transactional.id suffix and group.instance.id).
	InstanceID string
	// ExactlyOnce is --exactly-once: the extractor's Kafka transactions.
	ExactlyOnce bool
	// Load holds the flags of `tagstream load`.
	Load Load
}

// Load configures the load generator.
type Load struct {
	Posts       int
	Seed        int64
	Via         string
	API         string
	Users       int
	Tags        int
	PerPost     int
	Zipf        float64
	Concurrency int
	Timeout     time.Duration
}

// Defaults returns the configuration of a laptop running `tagstream run`.
func Defaults() Config {
	return Config{
		Brokers:     []string{"127.0.0.1:9092"},
		Data:        "./data",
		HTTP:        "127.0.0.1:8080",
		KafkaListen: "127.0.0.1:9092",
		Partitions:  12,
		Replication: 1,
		TTL:         24 * time.Hour,
		ExactlyOnce: true,
		Load: Load{
			Posts: 100_000, Seed: 1, Via: "kafka", API: "http://127.0.0.1:8080",
			Users: 100_000, Tags: 50_000, PerPost: 8, Zipf: 1.1, Concurrency: 32,
			Timeout: 30 * time.Minute,
		},
	}
}

type list struct{ p *[]string }

func (l list) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l list) Set(s string) error {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	if len(out) == 0 {
		return fmt.Errorf("empty list")
	}
	*l.p = out
	return nil
}

var defs = map[string]func(fs *flag.FlagSet, c *Config, name string){
	"brokers": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Var(list{&c.Brokers}, n, "Kafka bootstrap servers, comma-separated (Kafka's bootstrap.servers)")
	},
	"data": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Data, n, c.Data, "directory of the embedded broker's log, table state and the token secret")
	},
	"http": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.HTTP, n, c.HTTP, "HTTP API listen address")
	},
	"kafka-listen": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.KafkaListen, n, c.KafkaListen, "address the embedded Kafka broker listens on")
	},
	"partitions": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Partitions, n, c.Partitions, "partitions of every topic tagstream creates (bounds worker parallelism)")
	},
	"replication": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Replication, n, c.Replication, "replication factor of topics tagstream creates")
	},
	"state-dir": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.StateDir, n, c.StateDir, "directory of goka's local table copies (empty: in memory, recovered from Kafka at start)")
	},
	"secret": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Secret, n, c.Secret, "HS256 secret of bearer tokens, at least 32 bytes (run: default is kept in --data)")
	},
	"instance-id": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.InstanceID, n, c.InstanceID, "this worker's name, unique among workers and stable across its restarts, e.g. the pod name "+
			"(Kafka's transactional.id suffix and group.instance.id; empty: random id, dynamic membership, slower recovery)")
	},
	"exactly-once": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.ExactlyOnce, n, c.ExactlyOnce, "count every post exactly once across crashes with Kafka transactions "+
			"(Kafka Streams' processing.guarantee=exactly_once_v2); false only to measure what it costs")
	},
	"cdn-base": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.CDNBase, n, c.CDNBase, "base URL of image URLs (default: this API's /img origin)")
	},
	"user": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.User, n, c.User, "user the token is minted for")
	},
	"ttl": func(fs *flag.FlagSet, c *Config, n string) {
		fs.DurationVar(&c.TTL, n, c.TTL, "how long the token is valid")
	},
	"pprof": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Pprof, n, c.Pprof, "serve net/http/pprof on this address (empty: off)")
	},
	"keys": func(fs *flag.FlagSet, c *Config, n string) {
		fs.BoolVar(&c.Keys, n, c.Keys, "print distinct normalised keys (what counting uses) instead of hashtags as written")
	},
	"posts": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Load.Posts, n, c.Load.Posts, "number of posts to create")
	},
	"seed": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Int64Var(&c.Load.Seed, n, c.Load.Seed, "random seed: the same seed makes the same posts")
	},
	"via": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Load.Via, n, c.Load.Via, "kafka (produce onto posts) or api (POST /v1/posts)")
	},
	"api": func(fs *flag.FlagSet, c *Config, n string) {
		fs.StringVar(&c.Load.API, n, c.Load.API, "base URL of the API, read to check counts")
	},
	"users": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Load.Users, n, c.Load.Users, "number of distinct users")
	},
	"tags": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Load.Tags, n, c.Load.Tags, "hashtag vocabulary size")
	},
	"per-post": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Load.PerPost, n, c.Load.PerPost, "mean hashtags per post")
	},
	"zipf": func(fs *flag.FlagSet, c *Config, n string) {
		fs.Float64Var(&c.Load.Zipf, n, c.Load.Zipf, "Zipf exponent s (> 1) of hashtag popularity")
	},
	"concurrency": func(fs *flag.FlagSet, c *Config, n string) {
		fs.IntVar(&c.Load.Concurrency, n, c.Load.Concurrency, "concurrent requests with --via api")
	},
	"timeout": func(fs *flag.FlagSet, c *Config, n string) {
		fs.DurationVar(&c.Load.Timeout, n, c.Load.Timeout, "how long to wait for the view to match")
	},
}

// FlagSet returns a flag set for the subcommand with the named flags bound
// to c. It panics on an unknown name: that is a programming error.
func FlagSet(cmd string, c *Config, names ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("tagstream "+cmd, flag.ContinueOnError)
	for _, n := range names {
		def, ok := defs[n]
		if !ok {
			panic("config: unknown flag " + n)
		}
		def(fs, c, n)
	}
	return fs
}

// EnvName is the environment variable that sets flag name.
func EnvName(name string) string {
	return "TAGSTREAM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args, then fills every flag not given on the command line
// from its TAGSTREAM_* variable.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("config: %s=%q: %w", EnvName(f.Name), v, e)
			}
		}
	})
	return err
}
