package tablestore

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagstream/tagstream/metrics"
)

// openStores holds every open Store that names its table, so that /metrics can
// report their sizes without the stores doing anything per write.
var openStores sync.Map // *Store -> struct{}

var keysDesc = prometheus.NewDesc("tagstream_table_keys",
	"Keys held in memory per table partition (a process that holds two copies, a processor's and a view's, reports the larger).",
	[]string{"table", "partition"}, nil)

type sizes struct{}

func (sizes) Describe(ch chan<- *prometheus.Desc) { ch <- keysDesc }

func (sizes) Collect(ch chan<- prometheus.Metric) {
	type part struct {
		topic     string
		partition int32
	}
	most := map[part]int{}
	openStores.Range(func(k, _ any) bool {
		s := k.(*Store)
		s.mu.RLock()
		n := len(s.m)
		s.mu.RUnlock()
		p := part{s.topic, s.partition}
		most[p] = max(most[p], n)
		return true
	})
	for p, n := range most {
		ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, float64(n), p.topic, strconv.Itoa(int(p.partition)))
	}
}

func init() { metrics.Default.Collector("tagstream_table_keys", sizes{}) }
