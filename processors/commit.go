package processors

import (
	"github.com/lovoo/goka"

	"github.com/tagstream/tagstream/kafka/gokaopts"
)

// inOrder makes a goka input callback commit its message only once every
// write the process made before it has landed (gokaopts.AfterEmits).
//
// goka commits a message as soon as its own writes are acknowledged, and
// one that writes nothing at once; the consumer keeps the highest offset
// marked. The ranking skips most post-changes records (a post without
// likes moves no candidate), so its commits ran ahead of the table writes
// of earlier records, and a SIGKILL lost those writes for good: the
// records were committed, the watermark never saw them. make chaos found
// it as top lists short of a liked post and a trending count short of
// posts.
func inOrder(cb goka.ProcessCallback) goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		cb(ctx, msg)
		gokaopts.AfterEmits(ctx.DeferCommit())
	}
}

// input is goka.Input for tagstream's groups: every input edge commits in
// order and counts its records (records.go). The groups define their inputs through it alone
// (TestInputsCommitInOrder).
func input(s goka.Stream, c goka.Codec, cb goka.ProcessCallback) goka.Edge {
	return goka.Input(s, c, inOrder(countRecords(cb)))
}
