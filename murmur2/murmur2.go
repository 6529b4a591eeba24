// Package murmur2 is Kafka's default partitioning hash, so that goka,
// franz-go, the Java client and librdkafka's murmur2_random put every key in
// the same partition.
//
// goka's default hasher is FNV-32a: a record produced by any other client
// would land in a partition whose goka owner never sees it, and the group
// table would silently miss it. Every goka processor, view and emitter in
// tagstream is therefore built with [Hasher].
package murmur2

import "hash"

const (
	seed uint32 = 0x9747b28c
	m    uint32 = 0x5bd1e995
	r           = 24
)

// Sum returns the raw murmur2 hash of b exactly as Kafka's
// org.apache.kafka.common.utils.Utils.murmur2 computes it (as uint32).
func Sum(b []byte) uint32 {
	length := uint32(len(b))
	h := seed ^ length
	i := 0
	for ; len(b)-i >= 4; i += 4 {
		k := uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16 | uint32(b[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) - i {
	case 3:
		h ^= uint32(b[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// Partition returns the partition the Java client's default partitioner
// picks for a non-nil key: toPositive(murmur2(key)) % n.
func Partition(key []byte, n int32) int32 {
	return int32(Sum(key)&0x7fffffff) % n
}

// Hasher returns a hash.Hash32 whose Sum32 is murmur2(key) & 0x7fffffff.
//
// The mask matters: sarama's hash partitioner and goka's view lookup both take
// int32(Sum32()) % n and flip a negative result, which differs from Java's
// toPositive for half of all keys. With the sign bit already cleared their
// modulo equals Java's. Pass it as goka.WithHasher(murmur2.Hasher).
func Hasher() hash.Hash32 { return new(digest) }

type digest struct{ buf []byte }

func (d *digest) Write(p []byte) (int, error) {
	d.buf = append(d.buf, p...)
	return len(p), nil
}

func (d *digest) Sum(in []byte) []byte {
	s := d.Sum32()
	return append(in, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}

func (d *digest) Sum32() uint32  { return Sum(d.buf) & 0x7fffffff }
func (d *digest) Reset()         { d.buf = d.buf[:0] }
func (d *digest) Size() int      { return 4 }
func (d *digest) BlockSize() int { return 4 }
