package murmur2

import (
	"fmt"
	"testing"
)

// Vectors from Apache Kafka's UtilsTest.testMurmur2: the Java client is the
// reference every other partitioner has to agree with.
func TestSumMatchesKafkaUtils(t *testing.T) {
	cases := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	for in, want := range cases {
		if got := int32(Sum([]byte(in))); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestHasherClearsSignBit(t *testing.T) {
	for i := range 10000 {
		h := Hasher()
		fmt.Fprintf(h, "key-%d", i)
		s := h.Sum32()
		if s&0x80000000 != 0 {
			t.Fatalf("Sum32 of key-%d has the sign bit set: %#x", i, s)
		}
		// What sarama's hash partitioner computes must equal Java's formula.
		const n = 12
		sarama := int32(s) % n
		if sarama < 0 {
			sarama = -sarama
		}
		if want := Partition(fmt.Appendf(nil, "key-%d", i), n); sarama != want {
			t.Fatalf("key-%d: sarama-style partition %d, java-style %d", i, sarama, want)
		}
	}
}

func TestHasherReset(t *testing.T) {
	h := Hasher()
	h.Write([]byte("sunset"))
	first := h.Sum32()
	h.Reset()
	h.Write([]byte("sunset"))
	if h.Sum32() != first {
		t.Fatal("Reset did not clear the buffered key")
	}
}
