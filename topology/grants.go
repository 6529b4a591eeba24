package topology

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
func (ns Namespace) tables(ops []kmsg.ACLOperation) []kafka.Grant {
	var out []kafka.Grant
	g0 := ns.Gen(0)
	for _, g := range []string{g0.Counts(), g0.Top()} {
		out = append(out,
			kafka.Grant{Resource: topic, Name: g + "-table", Ops: ops},
			kafka.Grant{Resource: topic, Name: g + genMark, Prefixed: true, Ops: ops})
	}
	return append(out, kafka.Grant{Resource: topic, Name: ns.Pointer(), Ops: read})
}

// Grants returns what role may do in ns: the least that its processes need.
//
// Derived names of every generation are covered by prefixes ending in
// ".g", never by a bare base name: "hashtag-top" as a prefix would also
// cover the input topic hashtag-top-posts.
func (ns Namespace) Grants(role Role) []kafka.Grant {
	g0 := ns.Gen(0)
	switch role {
	case RoleAPI:
		return append(ns.tables(read),
			kafka.Grant{Resource: topic, Name: ns.Posts(), Ops: write},
			idemp)
	case RoleRank:
		return []kafka.Grant{{Resource: topic, Name: ns.TopPosts(), Ops: write}, idemp}
	case RoleReader:
		return append(ns.tables(read),
			kafka.Grant{Resource: group, Name: ns.SnapshotGroup(), Prefixed: true, Ops: read})
	case RoleWorker:
		var out []kafka.Grant
		// Internal topics: read, written, created by workers alone.
		for _, name := range g0.Derived() {
			out = append(out, kafka.Grant{Resource: topic, Name: name, Ops: own})
		}
		for _, base := range []string{g0.PostHashtags(), g0.Extractor(), g0.Counts(), g0.Top()} {
			out = append(out, kafka.Grant{Resource: topic, Name: base + genMark, Prefixed: true, Ops: own})
		}
		// Groups of every generation.
		for _, g := range g0.Groups() {
			out = append(out,
				kafka.Grant{Resource: group, Name: g, Ops: read},
				kafka.Grant{Resource: group, Name: g + genMark, Prefixed: true, Ops: read})
		}
		out = append(out,
			// Inputs: read (and created, so workers can start on an
			// empty cluster).
			kafka.Grant{Resource: topic, Name: ns.Posts(), Ops: append(read, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: ns.TopPosts(), Ops: append(read, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: ns.DeadLetters(), Ops: append(write, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: ns.Pointer(), Ops: append(read, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: txnID, Name: ns.TransactionalIDPrefix(), Prefixed: true, Ops: write},
			idemp)
		return out
	}
	return nil
}
