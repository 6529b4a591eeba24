package config

import (
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/snapshot"
)

func TestPrecedenceFlagThenEnvThenDefault(t *testing.T) {
	t.Setenv("TAGSTREAM_BROKERS", "env:1,env:2")
	t.Setenv("TAGSTREAM_HTTP", "env-http:1")
	t.Setenv("TAGSTREAM_KAFKA_LISTEN", "env-listen:1")
	c := Defaults()
	fs := FlagSet("run", &c, "brokers", "http", "kafka-listen", "data")
	if err := Parse(fs, []string{"--http", "flag-http:1"}); err != nil {
		t.Fatal(err)
	}
	if c.HTTP != "flag-http:1" {
		t.Errorf("flag lost to env: HTTP = %q", c.HTTP)
	}
	if !slices.Equal(c.Brokers, []string{"env:1", "env:2"}) {
		t.Errorf("env not applied: Brokers = %v", c.Brokers)
	}
	if c.KafkaListen != "env-listen:1" {
		t.Errorf("hyphenated flag env: KafkaListen = %q", c.KafkaListen)
	}
	if c.Data != "./data" {
		t.Errorf("default lost: Data = %q", c.Data)
	}
}

func TestBadEnvValueIsAnError(t *testing.T) {
	t.Setenv("TAGSTREAM_PARTITIONS", "many")
	c := Defaults()
	if err := Parse(FlagSet("worker", &c, "partitions"), nil); err == nil {
		t.Fatal("TAGSTREAM_PARTITIONS=many accepted")
	}
}

func TestEveryFlagHasAnEnvName(t *testing.T) {
	c := Defaults()
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	fs := FlagSet("all", &c, names...)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Usage == "" {
			t.Errorf("flag %s has no usage text", f.Name)
		}
	})
	if EnvName("kafka-listen") != "TAGSTREAM_KAFKA_LISTEN" {
		t.Error(EnvName("kafka-listen"))
	}
}

// The flag defaults restate the packages' own defaults so that -h shows
// them; they must not drift apart.
func TestDefaultsMatchThePackages(t *testing.T) {
	c := Defaults()
	if c.Snapshot.Keyspace != snapshot.DefaultKeyspace || c.Snapshot.Replication != snapshot.DefaultReplication ||
		c.Snapshot.Interval != snapshot.DefaultInterval {
		t.Errorf("snapshot defaults %+v", c.Snapshot)
	}
}

// --groups takes some of the worker's groups, each once, and refuses
// anything else: a typo must not leave a stage unrun in silence.
func TestGroupsFlag(t *testing.T) {
	c := Defaults()
	if !slices.Equal(c.Groups, processors.WorkerGroups) {
		t.Fatalf("default groups %v, want every worker group %v", c.Groups, processors.WorkerGroups)
	}
	if err := Parse(FlagSet("worker", &c, "groups"), []string{"--groups", "extractor, hashtag-counts"}); err != nil ||
		!slices.Equal(c.Groups, []string{"extractor", "hashtag-counts"}) {
		t.Fatalf("%v, %v", c.Groups, err)
	}
	for _, v := range []string{"", ",", "hashtag-rank", "extractor,extractor", "Extractor"} {
		c := Defaults()
		if err := Parse(FlagSet("worker", &c, "groups"), []string{"--groups", v}); err == nil {
			t.Errorf("--groups %q accepted: %v", v, c.Groups)
		}
	}
}

func TestListFlags(t *testing.T) {
	c := Defaults()
	fs := FlagSet("api", &c, "image-widths", "source", "cassandra")
	if err := Parse(fs, []string{"--image-widths", "100, 200", "--source", "cassandra", "--cassandra", "a:1,b:2"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Media.ImageWidths, []int{100, 200}) || c.Snapshot.Source != "cassandra" ||
		!slices.Equal(c.Snapshot.Cassandra, []string{"a:1", "b:2"}) {
		t.Fatalf("%+v %+v", c.Media, c.Snapshot)
	}
	for _, args := range [][]string{{"--source", "s3"}, {"--image-widths", "0"}, {"--image-widths", "x"}} {
		c := Defaults()
		if err := Parse(FlagSet("api", &c, "image-widths", "source"), args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// The ranking's and the extractor's durations have floors (and the commit
// interval a ceiling): zero, negative, tiny or, for a transaction that
// would outlive its timeout, huge values are refused rather than replaced
// in silence.
func TestRankDurationsHaveFloors(t *testing.T) {
	c := Defaults()
	if err := Parse(FlagSet("rank", &c, "rank-interval", "rank-half-life"), []string{"--rank-interval", "2s", "--rank-half-life", "1h"}); err != nil ||
		c.Rank.Interval != 2*time.Second || c.Rank.HalfLife != time.Hour {
		t.Fatalf("%+v, %v", c.Rank, err)
	}
	for _, args := range [][]string{{"--rank-interval", "0"}, {"--rank-interval", "-5s"}, {"--rank-interval", "1ns"},
		{"--rank-half-life", "59s"}, {"--rank-half-life", "soon"}, {"--commit-interval", "0"}, {"--commit-interval", "1ms"}, {"--commit-interval", "3s"}, {"--commit-interval", "1h"}} {
		c := Defaults()
		if err := Parse(FlagSet("rank", &c, "rank-interval", "rank-half-life", "commit-interval"), args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// A misspelt variable is refused with the name meant, instead of being
// ignored (TAGSTREAM_BROKER would leave the default broker in place).
func TestUnknownVariablesAreRefused(t *testing.T) {
	err := CheckEnv([]string{"PATH=/bin", "TAGSTREAM_BROKER=k1:9092", "TAGSTREAM_PARTITONS=6", "TAGSTREAM_BROKERS=k1:9092",
		"TAGSTREAM_NO_SKIP=1", "TAGSTREAM_CHAOS_SEEDS=3", "TAGSTREAM_TEST_KAFKA_ROLES=x", "TAGSTREAM_API_PASSWORD=p",
		"TAGSTREAM_SCHEMATHESIS=/x/st", "TAGSTREAM_CONTRACT_SEED=2", "TAGSTREAM_CHROMIUM=c", "TAGSTREAM_VARNISHD=v",
		"TAGSTREAM_KAFKA_PASSWORD_FILE=/run/secrets/p", "TAGSTREAM_SECRET_FILE=/run/secrets/s", "TAGSTREAM_HTTP_FILE=/x"})
	if err == nil {
		t.Fatal("misspelt variables accepted")
	}
	// A file form exists for secrets only: TAGSTREAM_HTTP_FILE is no variable.
	for _, want := range []string{"TAGSTREAM_BROKER (did you mean TAGSTREAM_BROKERS?)", "TAGSTREAM_PARTITONS (did you mean TAGSTREAM_PARTITIONS?)", "TAGSTREAM_HTTP_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, ok := range []string{"TAGSTREAM_BROKERS ", "NO_SKIP", "CHAOS", "TEST_KAFKA", "API_PASSWORD", "SCHEMATHESIS", "CONTRACT", "CHROMIUM", "VARNISHD", "PASSWORD_FILE", "SECRET_FILE"} {
		if strings.Contains(err.Error(), ok) {
			t.Errorf("error %q names a variable that is read: %s", err, ok)
		}
	}
	if err := CheckEnv([]string{"TAGSTREAM_BROKERS=k", "TAGSTREAM_KAFKA_USER=u"}); err != nil {
		t.Errorf("valid variables refused: %v", err)
	}
}

// --cors-origins takes exact origins or "*" alone, from the flag or the
// environment, and refuses at start an origin no browser sends, which
// would otherwise allow nothing in silence. Its default is none.
func TestCORSOriginsFlag(t *testing.T) {
	if c := Defaults(); c.CORSOrigins != nil {
		t.Fatalf("default %q, want none", c.CORSOrigins)
	}
	c := Defaults()
	if err := Parse(FlagSet("api", &c, "cors-origins"), []string{"--cors-origins", "https://app.example.com, http://localhost:3000"}); err != nil ||
		!slices.Equal(c.CORSOrigins, []string{"https://app.example.com", "http://localhost:3000"}) {
		t.Fatalf("%q, %v", c.CORSOrigins, err)
	}
	t.Setenv("TAGSTREAM_CORS_ORIGINS", "*")
	c = Defaults()
	if err := Parse(FlagSet("run", &c, "cors-origins"), nil); err != nil || !slices.Equal(c.CORSOrigins, []string{"*"}) {
		t.Fatalf("from the environment: %q, %v", c.CORSOrigins, err)
	}
	for _, v := range []string{"", "https://app.example.com/", "https://App.example.com", "*,https://app.example.com", "null", "app.example.com"} {
		c := Defaults()
		if err := Parse(FlagSet("api", &c, "cors-origins"), []string{"--cors-origins", v}); err == nil {
			t.Errorf("--cors-origins %q accepted: %q", v, c.CORSOrigins)
		}
	}
}
