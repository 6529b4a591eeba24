package murmur2

import (
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

// The partition of each of Kafka's vectors, worked out from the vector
// alone as the Java client does it (Utils.toPositive(murmur2(key)) %
// partitions: the sign bit cleared, then the remainder), must be what
// Partition gives and what sarama's hash partitioner computes from
// Hasher's Sum32 (int32(sum) % n, made positive). A hasher that left the
// sign bit set would put keys elsewhere than every Java producer.
func TestPartitionsAgreeWithKafkasJavaClient(t *testing.T) {
	want := map[string][2]int32{ // key -> partition of 12, of 6
		"21":                         {0, 0},
		"foobar":                     {6, 0},
		"a-little-bit-long-string":   {8, 2},
		"a-little-bit-longer-string": {11, 5},
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": {5, 5},
		"abc": {3, 3},
	}
	for key, parts := range want {
		for i, n := range []int32{12, 6} {
			if got := Partition([]byte(key), n); got != parts[i] {
				t.Errorf("Partition(%q, %d) = %d, want %d", key, n, got, parts[i])
			}
			h := Hasher()
			h.Write([]byte(key))
			sarama := int32(h.Sum32()) % n
			if sarama < 0 {
				sarama = -sarama
			}
			if sarama != parts[i] {
				t.Errorf("sarama with Hasher puts %q in partition %d of %d, the Java client in %d", key, sarama, n, parts[i])
			}
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
