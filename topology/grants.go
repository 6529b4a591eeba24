package topology

import (
	"strings"

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
	// RoleRank runs `tagstream rank`: it reads post-changes, owns the
	// ranking's and trending's groups and tables, and publishes top-posts
	// documents and trending partials. An outside ranking job needs only
	// its write on hashtag-top-posts.
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

// every grants ops on each of names and on its later generations.
func every(names []string, ops []kmsg.ACLOperation) []kafka.Grant {
	var out []kafka.Grant
	for _, name := range names {
		out = append(out,
			kafka.Grant{Resource: topic, Name: name, Ops: ops},
			kafka.Grant{Resource: topic, Name: genBase(name) + genMark, Prefixed: true, Ops: ops})
	}
	return out
}

// genBase is the part of a derived name of generation 0 that generation n
// appends ".g<n>" to: the group of a table ("hashtag-top" of
// "hashtag-top-table"), the name itself otherwise.
func genBase(name string) string {
	if b, ok := strings.CutSuffix(name, "-table"); ok {
		return b
	}
	return name
}

// groups grants reading (joining) each group of every generation.
func groups(names []string) []kafka.Grant {
	var out []kafka.Grant
	for _, g := range names {
		out = append(out,
			kafka.Grant{Resource: group, Name: g, Ops: read},
			kafka.Grant{Resource: group, Name: g + genMark, Prefixed: true, Ops: read})
	}
	return out
}

// served lists the grants on the served topics, every generation.
func (ns Namespace) served(ops []kmsg.ACLOperation) []kafka.Grant {
	return append(every(ns.Gen(0).Served(), ops), kafka.Grant{Resource: topic, Name: ns.Pointer(), Ops: read})
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
		return append(ns.served(read),
			kafka.Grant{Resource: topic, Name: ns.Posts(), Ops: write},
			kafka.Grant{Resource: topic, Name: ns.Likes(), Ops: write},
			idemp)
	case RoleRank:
		out := append(every(g0.RankDerived(), own), every([]string{g0.PostChanges()}, read)...)
		out = append(out, groups(g0.RankGroups())...)
		// Describe on the inputs: a post-changes record is checked
		// against their end offsets (processors.SourceBound).
		describe := []kmsg.ACLOperation{kmsg.ACLOperationDescribe}
		return append(out,
			kafka.Grant{Resource: topic, Name: ns.Posts(), Ops: describe},
			kafka.Grant{Resource: topic, Name: ns.Likes(), Ops: describe},
			kafka.Grant{Resource: topic, Name: ns.Pointer(), Ops: append(read, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: ns.TopPosts(), Ops: append(write, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: ns.DeadLetters(), Ops: append(write, kmsg.ACLOperationCreate)},
			idemp)
	case RoleReader:
		return append(ns.served(read),
			kafka.Grant{Resource: group, Name: ns.SnapshotGroup(), Prefixed: true, Ops: read})
	case RoleWorker:
		// Internal topics: read, written, created by workers (the
		// ranking's too, so a worker alone starts an empty cluster).
		out := every(g0.Derived(), own)
		out = append(out, groups(g0.WorkerGroups())...)
		out = append(out,
			// Inputs: read (and created, so workers can start on an
			// empty cluster).
			kafka.Grant{Resource: topic, Name: ns.Posts(), Ops: append(read, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: ns.Likes(), Ops: append(read, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: ns.TopPosts(), Ops: append(read, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: ns.DeadLetters(), Ops: append(write, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: topic, Name: ns.Pointer(), Ops: append(read, kmsg.ACLOperationCreate)},
			kafka.Grant{Resource: txnID, Name: ns.TransactionalIDPrefix(), Prefixed: true, Ops: write},
			idemp)
		return out
	}
	return nil
}
