package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/varde/varde/storage"
)

// DB is what the scrape-time figures are read from: storage.Store.
type DB interface {
	QueueDepth(ctx context.Context) ([]storage.QueueCount, error)
	LastSuccessfulRuns(ctx context.Context) ([]storage.ScheduleSuccess, error)
}

// DBCollector reads River's queue depth and each schedule's last successful run from Postgres at each
// scrape, so every replica reports the same figures and none keeps them in memory.
type DBCollector struct {
	db      DB
	timeout time.Duration
	depth   *prometheus.Desc
	last    *prometheus.Desc
	up      *prometheus.Desc
}

// NewDBCollector reads from db, giving each scrape's queries timeout.
func NewDBCollector(db DB, timeout time.Duration) *DBCollector {
	return &DBCollector{db: db, timeout: timeout,
		depth: prometheus.NewDesc(namespace+"_queue_jobs", "River jobs not yet finished, by queue and state.", []string{"queue", "state"}, nil),
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
	qs, err := c.db.QueueDepth(ctx)
	if err != nil {
		ok = 0
	}
	for _, q := range qs {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(q.Jobs), q.Queue, q.State)
	}
	ls, err := c.db.LastSuccessfulRuns(ctx)
	if err != nil {
		ok = 0
	}
	for _, l := range ls {
		ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(l.At.UnixNano())/1e9,
			strconv.FormatInt(l.ScheduleID, 10), l.ConfigName)
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, ok)
}
