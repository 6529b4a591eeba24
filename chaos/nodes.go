package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// NodeChaos is what a run on a three-node cluster (services/kafka.sh
// with KAFKA_BROKERS=3, make chaos-cluster) does to its brokers instead
// of one restart: two rounds, from RestartAt of the load on, each a
// SIGKILL of one node, Down of waiting and a start of it again:
//
//	round "leader":     the broker that leads the most partitions
//	round "controller": the active KRaft controller
//
// After each start the round waits until every partition is fully
// replicated again before the next round, so the second kill never leaves
// a partition with fewer in-sync replicas than min.insync.replicas (2):
// that would stop writes, a known outage rather than a failover.
type NodeChaos struct {
	// Command runs services/kafka.sh's node operations: the round adds
	// "kill-node N" and "start-node N" (which waits until N answers).
	Command []string
	// Down is how long a killed node stays down (default 20s): longer than
	// the clients' 10 s session timeout, so the groups the node
	// coordinated move and its partitions' leaders change for good.
	Down time.Duration
}

// NodeRounds are the rounds of NodeChaos, in order.
var NodeRounds = []string{"leader", "controller"}

// nodeRounds runs the rounds of o.Nodes one after the other and counts
// each in res; between runs the bound watch is told of each outage.
func nodeRounds(ctx context.Context, o Options, res *Result, j *journal, watch *boundWatch) error {
	down := o.Nodes.Down
	if down <= 0 {
		down = 20 * time.Second
	}
	for _, round := range NodeRounds {
		began := time.Now()
		node, why, err := pickNode(ctx, o, round)
		if err != nil {
			return fmt.Errorf("chaos: round %s: %w", round, err)
		}
		j.say("round %s: SIGKILL node %d (%s); it stays down %s", round, node, why, down)
		if err := nodeOp(ctx, o, "kill-node", node); err != nil {
			return fmt.Errorf("chaos: round %s: %w", round, err)
		}
		res.NodeKills[round]++
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(down):
		}
		started := time.Now()
		if err := nodeOp(ctx, o, "start-node", node); err != nil {
			return fmt.Errorf("chaos: round %s: %w", round, err)
		}
		j.say("round %s: node %d answers again after %s; waiting for every partition's replicas to be in sync", round, node, time.Since(started).Round(time.Second))
		isr := time.Now()
		if err := awaitInSync(ctx, o); err != nil {
			return fmt.Errorf("chaos: round %s: %w", round, err)
		}
		watch.restarted(began, time.Now())
		j.say("round %s done: every partition fully in sync %s after the start (round took %s)",
			round, time.Since(isr).Round(time.Second), time.Since(began).Round(time.Second))
	}
	return nil
}

// pickNode asks the cluster which node a round kills, and why.
func pickNode(ctx context.Context, o Options, round string) (int, string, error) {
	cl, err := o.Cluster.Client("chaos-nodes")
	if err != nil {
		return 0, "", err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch round {
	case "leader":
		// Every topic, the internal ones too: __consumer_offsets and
		// __transaction_state leaders are the groups' and the
		// transactions' coordinators.
		md, err := kadm.NewClient(cl).Metadata(ctx)
		if err != nil {
			return 0, "", fmt.Errorf("metadata: %w", err)
		}
		led := map[int32]int{}
		for _, t := range md.Topics {
			for _, p := range t.Partitions {
				if p.Leader >= 0 {
					led[p.Leader]++
				}
			}
		}
		best := int32(-1)
		for _, b := range md.Brokers {
			if best < 0 || led[b.NodeID] > led[best] {
				best = b.NodeID
			}
		}
		if best < 0 {
			return 0, "", fmt.Errorf("metadata lists no broker")
		}
		return int(best), fmt.Sprintf("it leads %d partitions of %v", led[best], led), nil
	case "controller":
		id, err := activeController(ctx, cl)
		if err != nil {
			return 0, "", err
		}
		return id, "the active controller, leader of the metadata quorum", nil
	}
	return 0, "", fmt.Errorf("unknown round %q", round)
}

// activeController reads the leader of __cluster_metadata from
// DescribeQuorum (KIP-595): in KRaft a Metadata response's controller id
// is any broker, not the active controller.
func activeController(ctx context.Context, cl kmsg.Requestor) (int, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("describe quorum: %w", err)
	}
	if len(resp.Topics) == 0 || len(resp.Topics[0].Partitions) == 0 {
		return 0, fmt.Errorf("describe quorum: no partition in the answer (error code %d)", resp.ErrorCode)
	}
	p0 := resp.Topics[0].Partitions[0]
	if p0.ErrorCode != 0 || p0.LeaderID < 0 {
		return 0, fmt.Errorf("describe quorum: error code %d, leader %d", p0.ErrorCode, p0.LeaderID)
	}
	return int(p0.LeaderID), nil
}

// awaitInSync waits (at most 3 minutes) until every partition has all its
// replicas in sync.
func awaitInSync(ctx context.Context, o Options) error {
	cl, err := o.Cluster.Client("chaos-nodes")
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	last := "no metadata read"
	for {
		mctx, mcancel := context.WithTimeout(ctx, 10*time.Second)
		md, err := adm.Metadata(mctx)
		mcancel()
		if err == nil {
			under := 0
			for _, t := range md.Topics {
				for _, p := range t.Partitions {
					if len(p.ISR) < len(p.Replicas) || p.Leader < 0 {
						under++
					}
				}
			}
			if under == 0 {
				return nil
			}
			last = fmt.Sprintf("%d partitions under-replicated", under)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replicas not in sync after 3m: %s", last)
		case <-time.After(time.Second):
		}
	}
}

// nodeOp runs o.Nodes.Command with op and node, its output appended to
// nodes.log in the run's folder.
func nodeOp(ctx context.Context, o Options, op string, node int) error {
	args := append(append([]string{}, o.Nodes.Command[1:]...), op, fmt.Sprint(node))
	cmd := exec.CommandContext(ctx, o.Nodes.Command[0], args...)
	out, err := os.OpenFile(filepath.Join(o.Dir, "nodes.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	fmt.Fprintf(out, "=== %s %s\n", time.Now().UTC().Format("15:04:05.000"), strings.Join(append(o.Nodes.Command[:1:1], args...), " "))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %d (nodes.log): %w", op, node, err)
	}
	return nil
}
