package processors

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tagstream/tagstream/kafka"
)

// Role is a principal's part in a deployment, the unit its ACLs are
// written for (topology.md, Principals and ACLs). The admin principal is a
// superuser and has no grants: it is for operators and tools.
type Role string

// The roles.
const (
	// RoleAPI publishes posts and reads the tables through its views.
	RoleAPI Role = "api"
	// RoleWorker runs the processors: it owns every internal topic and
	// group, and reads the input topics.
	RoleWorker Role = "worker"
	// RoleRank publishes top-posts documents (an outside ranking job).
	RoleRank Role = "rank"
	// RoleReader only reads the tables: the snapshotter, a read-only API.
	RoleReader Role = "reader"
)

// Roles lists every role with grants.
func Roles() []Role { return []Role{RoleAPI, RoleWorker, RoleRank, RoleReader} }

var (
	read    = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationDescribe}
	write   = []kmsg.ACLOperation{kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe}
	own     = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe, kmsg.ACLOperationCreate, kmsg.ACLOperationDescribeConfigs}
	idemp   = kafka.Grant{Resource: kmsg.ACLResourceTypeCluster, Name: "kafka-cluster", Ops: []kmsg.ACLOperation{kmsg.ACLOperationIdempotentWrite}}
	topic   = kmsg.ACLResourceTypeTopic
	group   = kmsg.ACLResourceTypeGroup
	txnID   = kmsg.ACLResourceTypeTransactionalId
	genMark = ".g" // generation n > 0 appends ".g<n>" to derived names (Gen)
)

// tables lists the grants on the two served tables, every generation.
func tables(ops []kmsg.ACLOperation) []kafka.Grant {
	var out []kafka.Grant
	for _, g := range []string{string(GroupCounts), string(GroupTop)} {
		out = append(out,
			kafka.Grant{Resource: topic, Name: g + "-table", Ops: ops},
			kafka.Grant{Resource: topic, Name: g + genMark, Prefixed: true, Ops: ops})
	}
	return append(out, kafka.Grant{Resource: topic, Name: TopicGeneration, Ops: read})
}

// Grants returns what role may do: the least that its processes need.
//
// Derived names of every generation are covered by prefixes ending in
// ".g", never by a bare base name: "hashtag-top" as a prefix would also
// cover the input topic hashtag-top-posts.
func Grants(role Role) []kafka.Grant {
	switch role {
	case RoleAPI:
		return append(tables(read),
			kafka.Grant{Resource: topic, Name: string(TopicPosts), Ops: write},
			idemp)
	case RoleRank:
		return []kafka.Grant{{Resource: topic, Name: string(TopicTopPosts), Ops: write}, idemp}
	case RoleReader:
		return append(tables(read),
			kafka.Grant{Resource: group, Name: "tagstream-snapshot", Prefixed: true, Ops: read})
	case RoleWorker:
		var out []kafka.Grant
		// Internal topics: read, written, created by workers alone.
		for _, name := range Gen(0).Derived() {
			out = append(out, kafka.Grant{Resource: topic, Name: name, Ops: own})
		}
		for _, base := range []string{string(TopicPostHashtags), string(GroupExtractor), string(GroupCounts), string(GroupTop)} {
			out = append(out, kafka.Grant{Resource: topic, Name: base + genMark, Prefixed: true, Ops: own})
		}
		// Groups of every generation.
		for _, g := range Gen(0).Groups() {
			out = append(out,
				kafka.Grant{Resource: group, Name: g, Ops: read},
				kafka.Grant{Resource: group, Name: g + genMark, Prefixed: true, Ops: read})
		}
		out = append(out,
			// Inputs: read (and created, so workers can start on an
			// empty cluster).
			kafka.Grant{Resource: topic, Name: string(TopicPosts), Ops: append(read, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: string(TopicTopPosts), Ops: append(read, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: string(TopicDeadLetters), Ops: append(write, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: TopicGeneration, Ops: append(read, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: txnID, Name: "tagstream-extractor-", Prefixed: true, Ops: write},
			idemp)
		return out
	}
	return nil
}
