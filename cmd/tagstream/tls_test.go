package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/token"
	"github.com/tagstream/tagstream/topology"
)

// A post created through the API is counted by a worker, both processes
// reaching Kafka only over SASL_SSL, as their roles' principals: the
// worker with a client certificate (mutual TLS), the API with SASL alone,
// each given its TLS as TAGSTREAM_KAFKA_* variables, as compose does. No
// connection of either goes to the plaintext listener.
func TestAPIAndWorkerOverSASLSSL(t *testing.T) {
	admin := kafkatest.TLS(t, true)
	ns := kafkatest.NamespaceOn(t, admin)
	plain := kafkatest.Cluster(t).Brokers
	common := []string{"--brokers", strings.Join(admin.Brokers, ","), "--partitions", "3", "--namespace", string(ns)}
	workerEnv := append(kafkatest.EnvOf(kafkatest.As(t, topology.RoleWorker)), kafkatest.TLSEnvOf(admin.Brokers, kafkatest.TLSFiles(t, true))...)
	apiEnv := append(kafkatest.EnvOf(kafkatest.As(t, topology.RoleAPI)), kafkatest.TLSEnvOf(admin.Brokers, kafkatest.TLSFiles(t, false))...)

	worker := launchEnv(t, "worker", workerEnv, append([]string{"worker", "--instance-id", "tls-w1"}, common...)...)
	httpAddr := freeAddr(t)
	secret := strings.Repeat("t", token.MinSecretLen)
	api := launchEnv(t, "api", apiEnv, append([]string{"api", "--http", httpAddr, "--secret", secret}, common...)...)
	awaitReady(t, httpAddr, api)

	tag := fmt.Sprintf("overtls%x", rand.Uint32())
	tok, err := token.Mint([]byte(secret), "tls-user", time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	const posts = 3
	for i := range posts {
		body := fmt.Sprintf(`{"post_id":"tls-%d","caption":"over TLS #%s"}`, i, tag)
		req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/posts", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /v1/posts: %s; api output:\n%s", resp.Status, api.out.String())
		}
	}
	var got int64
	for deadline := time.Now().Add(90 * time.Second); got != posts; time.Sleep(200 * time.Millisecond) {
		if got = count(httpAddr, tag); time.Now().After(deadline) {
			t.Fatalf("#%s counts %d, want %d; worker output:\n%s", tag, got, posts, worker.out.String())
		}
	}

	for _, p := range []*command{worker, api} {
		ports := kafkaPorts(t, p.cmd.Process.Pid)
		t.Logf("%s's connections to 127.0.0.1, by remote port: %v", p.name, ports)
		for _, b := range plain {
			if _, port, _ := net.SplitHostPort(b); ports[port] > 0 {
				t.Errorf("%s has %d connections to the plaintext listener %s", p.name, ports[port], b)
			}
		}
		if _, port, _ := net.SplitHostPort(admin.Brokers[0]); ports[port] == 0 {
			t.Errorf("%s has no connection to the SASL_SSL listener %s", p.name, admin.Brokers[0])
		}
	}
}

// kafkaPorts counts the established TCP connections of process pid to
// 127.0.0.1 by remote port, from its socket descriptors and the kernel's
// table of TCP sockets (what ss -tnp reads, without needing ss).
func kafkaPorts(t *testing.T, pid int) map[string]int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		testenv.Skip(t, fmt.Sprintf("the process's descriptors are not readable here: %v", err))
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); ok && err == nil {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ports := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "01" || !inodes[fields[9]] { // 01: ESTABLISHED
			continue
		}
		host, port, ok := strings.Cut(fields[2], ":")
		if !ok || host != "0100007F" { // 127.0.0.1, little-endian
			continue
		}
		n, err := strconv.ParseUint(port, 16, 16)
		if err != nil {
			t.Fatalf("/proc/net/tcp: port %q: %v", port, err)
		}
		ports[strconv.FormatUint(n, 10)]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ports
}

// Every command that reaches Kafka reads its TLS files at start: a CA
// file that is not there stops it before any connection, with the flag
// named (and none talks plaintext to a cluster it was told is TLS).
func TestEveryKafkaCommandLoadsItsTLS(t *testing.T) {
	for _, args := range [][]string{
		{"worker"}, {"rank"}, {"api", "--secret", strings.Repeat("s", token.MinSecretLen)}, {"snapshot"},
		{"emit", "top-posts"}, {"replay"}, {"backup"}, {"restore"}, {"acls"}, {"load"}, {"dead-letters"}, {"dead-letters", "republish"},
	} {
		args = append(args, "--brokers", "127.0.0.1:1", "--kafka-ca", "/nonexistent/kafka-ca.pem")
		err := dispatch(t.Context(), args, strings.NewReader(""), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--kafka-ca") || !strings.Contains(err.Error(), "/nonexistent/kafka-ca.pem") {
			t.Errorf("%v: %v; want an error naming --kafka-ca and its file", args, err)
		}
	}
}

// Every command that reaches Cassandra reads its TLS files at start, as
// the Kafka ones do: a CA file that is not there stops it with the flag
// named, before any connection.
func TestEveryCassandraCommandLoadsItsTLS(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--data", t.TempDir()}, {"api", "--secret", strings.Repeat("s", token.MinSecretLen), "--source", "cassandra"},
		{"snapshot"}, {"snapshot", "--init-schema"},
	} {
		args = append(args, "--cassandra", "127.0.0.1:1", "--cassandra-ca", "/nonexistent/cassandra-ca.pem")
		err := dispatch(t.Context(), args, strings.NewReader(""), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--cassandra-ca") || !strings.Contains(err.Error(), "/nonexistent/cassandra-ca.pem") {
			t.Errorf("%v: %v; want an error naming --cassandra-ca and its file", args, err)
		}
	}
}
