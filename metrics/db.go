package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/varde/varde/storage"
)

// Queue is River's job queue: schedule.Service.
type Queue interface {
	// QueueDepth counts the jobs not yet finished, by state.
	QueueDepth(ctx context.Context) (map[string]int64, error)
}

// Runs is the record of audit runs: storage.Store.
type Runs interface {
	LastSuccessfulRuns(ctx context.Context) ([]storage.ScheduleSuccess, error)
}

// DBCollector reads River's queue depth and each schedule's last successful run from Postgres at each
// scrape, so every replica reports the same figures and none keeps them in memory.
type DBCollector struct {
	queue   Queue
	runs    Runs
	timeout time.Duration
	depth   *prometheus.Desc
	last    *prometheus.Desc
	up      *prometheus.Desc
}

// NewDBCollector reads from queue and runs, giving each scrape's queries timeout.
func NewDBCollector(queue Queue, runs Runs, timeout time.Duration) *DBCollector {
	return &DBCollector{queue: queue, runs: runs, timeout: timeout,
		depth: prometheus.NewDesc(namespace+"_queue_jobs", "River jobs of the audit queue not yet finished, by state.", []string{"state"}, nil),
		last: prometheus.NewDesc(namespace+"_schedule_last_success_timestamp_seconds",
			"When each schedule's last successful run finished (Unix time).", []string{"schedule_id", "config"}, nil),
		up: prometheus.NewDesc(namespace+"_database_scrape_ok", "1 when the scrape-time queries of the database worked.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *DBCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.last
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *DBCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ok := 1.0
	qs, err := c.queue.QueueDepth(ctx)
	if err != nil {
		ok = 0
	}
	for state, n := range qs {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n), state)
	}
	ls, err := c.runs.LastSuccessfulRuns(ctx)
	if err != nil {
		ok = 0
	}
	for _, l := range ls {
		ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(l.At.UnixNano())/1e9,
			strconv.FormatInt(l.ScheduleID, 10), l.ConfigName)
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, ok)
}
