// Package processors defines tagstream's stages: the extractor that re-keys
// posts by hashtag in Kafka transactions (franz-go), and the goka groups of
// the counter and the top-posts table. Each goka group is a small
// DefineGroup with named edges; callbacks decode, apply a pure function of
// (table value, record) and act only through the goka context.
package processors
