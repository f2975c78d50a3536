// Command ingest benchmarks varde's bulk ingest of measurement samples (storage.AppendMeasurements,
// which uses COPY through pgx) against psql's \copy of the same rows from CSV, in the same run and on the
// same server, and prints rows/s for both and their ratio.
//
//	go run ./bench/ingest [-rows 1000000] [-rounds 3]
//
// With DATABASE_URL unset it starts a throwaway cluster.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/varde/varde/storage"
	"github.com/varde/varde/storage/pgtemp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

const perMeasurement = 1000

func run() error {
	rows := flag.Int("rows", 1_000_000, "samples per round")
	rounds := flag.Int("rounds", 3, "rounds of each method (the median is reported)")
	flag.Parse()
	ctx := context.Background()

	url := os.Getenv("DATABASE_URL")
	if url == "" {
		c, err := pgtemp.Start(ctx, pgtemp.Config{NotDurable: true}) // both methods share it: a ratio, not a durability test
		if err != nil {
			return err
		}
		defer c.Stop(ctx)
		url = c.URL("postgres")
	}
	s, err := storage.Open(ctx, storage.Config{DatabaseURL: url, SkipSchemaCheck: true})
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	dir, err := os.MkdirTemp("", "varde-ingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	nm := *rows / perMeasurement
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var vardeTimes, copyTimes []time.Duration
	for r := 0; r < *rounds; r++ {
		// varde: the real ingest path, hashing and chaining included.
		a, err := s.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindAdHoc, ToolVersion: "bench", Header: &storage.Header{}})
		if err != nil {
			return err
		}
		ms := make([]storage.Measurement, nm)
		for i := range ms {
			ms[i] = storage.Measurement{Vantage: "oslo-nix-1", Target: "t" + strconv.Itoa(i), Address: "198.18.0.1",
				ProbeKind: "icmp", Sent: perMeasurement, Received: perMeasurement, StartedAt: base, FinishedAt: base,
				Tool: "varde", ToolVersion: "bench", Samples: samples(base)}
		}
		start := time.Now()
		if err := s.AppendMeasurements(ctx, a.ID, ms); err != nil {
			return err
		}
		vardeTimes = append(vardeTimes, time.Since(start))

		// psql \copy of the same sample rows, for measurement rows made beforehand (not timed).
		b, err := s.CreateAudit(ctx, storage.NewAudit{Kind: storage.KindAdHoc, ToolVersion: "bench", Header: &storage.Header{}})
		if err != nil {
			return err
		}
		var first int64
		err = conn.QueryRow(ctx, `WITH ins AS (
			INSERT INTO measurements (audit_id, seq, prev_hash, hash, vantage, target, probe_kind, sent, received,
				started_at, finished_at, tool, tool_version, samples_sha256)
			SELECT $1, g, '\x00', '\x00', 'oslo-nix-1', 't' || g, 'icmp', $3, $3, now(), now(), 'psql', 'bench', '\x00'
			FROM generate_series(1, $2) g RETURNING id) SELECT min(id) FROM ins`, b.ID, nm, perMeasurement).Scan(&first)
		if err != nil {
			return err
		}
		csv := filepath.Join(dir, fmt.Sprintf("samples-%d.csv", r))
		if err := writeCSV(csv, first, nm, base); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c",
			`\copy measurement_samples (measurement_id, idx, sent_at, rtt_ns, kernel_rtt_ns, duplicate, retransmits) FROM '`+csv+`' WITH (FORMAT csv)`)
		cmd.Stderr = os.Stderr
		start = time.Now()
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("psql \\copy: %w", err)
		}
		copyTimes = append(copyTimes, time.Since(start))
	}
	vt, ct := median(vardeTimes), median(copyTimes)
	n := float64(nm * perMeasurement)
	fmt.Printf("%-34s %10s %9s %12s\n", "method (median of rounds)", "rows", "seconds", "rows/s")
	fmt.Printf("%-34s %10d %9.3f %12.0f\n", "varde AppendMeasurements (COPY)", nm*perMeasurement, vt.Seconds(), n/vt.Seconds())
	fmt.Printf("%-34s %10d %9.3f %12.0f\n", `psql \copy from CSV`, nm*perMeasurement, ct.Seconds(), n/ct.Seconds())
	fmt.Printf("ratio varde / \\copy (rows/s): %.2f (target >= 0.70); rounds: %d; all varde %v; all \\copy %v\n",
		ct.Seconds()/vt.Seconds(), *rounds, vardeTimes, copyTimes)
	return nil
}

func samples(base time.Time) []storage.Sample {
	ss := make([]storage.Sample, perMeasurement)
	for j := range ss {
		ss[j] = storage.Sample{Idx: j, SentAt: base.Add(time.Duration(j) * time.Millisecond), Received: true,
			RTT: time.Duration(2_000_000 + j*37)}
	}
	return ss
}

func writeCSV(path string, first int64, nm int, base time.Time) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 0; i < nm; i++ {
		for j, sm := range samples(base) {
			fmt.Fprintf(w, "%d,%d,%s,%d,,f,0\n", first+int64(i), j, sm.SentAt.Format(time.RFC3339Nano), int64(sm.RTT))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
