package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// chainTx appends evidence rows to one audit's chain inside one transaction. The audit row is locked
// for the transaction, so concurrent appends to one audit are serialised and seq has no gaps.
type chainTx struct {
	tx      pgx.Tx
	auditID int64
	form    int
	length  int64
	head    []byte
	// finish, when set by fn, is written with the chain head: the audit's final status and time.
	finish   AuditStatus
	finished time.Time
}

func (s *Store) withChain(ctx context.Context, auditID int64, fn func(c *chainTx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("audit %d: begin: %w", auditID, err)
	}
	defer tx.Rollback(ctx)
	c := &chainTx{tx: tx, auditID: auditID}
	var status AuditStatus
	var form int16
	err = tx.QueryRow(ctx, `SELECT chain_length, chain_head, status, canonical_form FROM audits WHERE id = $1 FOR UPDATE`, auditID).
		Scan(&c.length, &c.head, &status, &form)
	if err != nil {
		return notFound(err, fmt.Sprintf("audit %d", auditID))
	}
	if status != StatusRunning {
		return fmt.Errorf("audit %d is %s: %w", auditID, status, ErrAuditFinished)
	}
	c.form = int(form)
	if err := fn(c); err != nil {
		return err
	}
	if c.finish != "" {
		_, err = tx.Exec(ctx, `UPDATE audits SET chain_length = $2, chain_head = $3, status = $4, finished_at = $5 WHERE id = $1`,
			auditID, c.length, c.head, c.finish, c.finished)
	} else {
		_, err = tx.Exec(ctx, `UPDATE audits SET chain_length = $2, chain_head = $3 WHERE id = $1`, auditID, c.length, c.head)
	}
	if err != nil {
		return fmt.Errorf("audit %d: advance chain: %w", auditID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("audit %d: commit: %w", auditID, err)
	}
	return nil
}

// firstSeq is the seq of an audit's first chain row: FormJCS chains start with their header at 0.
func firstSeq(form int) int64 {
	if form == FormGo {
		return 1
	}
	return 0
}

// link gives the next row its place in the chain and its hash.
func (c *chainTx) link(ch *Chain, canon func(form int) ([]byte, error)) error {
	ch.AuditID = c.auditID
	ch.Seq = c.length + firstSeq(c.form)
	ch.PrevHash = c.head
	b, err := canon(c.form)
	if err != nil {
		return err
	}
	ch.Hash = chainHash(ch.PrevHash, b)
	c.length, c.head = c.length+1, ch.Hash
	return nil
}

// AppendMeasurements stores measurements and bulk-loads their samples with COPY. On success each
// measurement's Chain and SamplesSHA256 are filled in.
func (s *Store) AppendMeasurements(ctx context.Context, auditID int64, ms []Measurement) error {
	if len(ms) == 0 {
		return nil
	}
	for i := range ms {
		m := &ms[i]
		if m.ProbeKind != "icmp" && m.ProbeKind != "tcp" {
			return fmt.Errorf("measurement %d (%s): probe kind %q: want icmp or tcp", i, m.Target, m.ProbeKind)
		}
		stats, err := normJSON(m.Stats)
		if err != nil {
			return fmt.Errorf("measurement %d (%s): stats: %w", i, m.Target, err)
		}
		m.Stats = stats
		m.StartedAt, m.FinishedAt = pgTime(m.StartedAt), pgTime(m.FinishedAt)
		for j := range m.Samples {
			m.Samples[j].SentAt = pgTime(m.Samples[j].SentAt)
		}
		m.SamplesSHA256 = samplesDigest(m.Samples)
	}
	return s.withChain(ctx, auditID, func(c *chainTx) error {
		batch := &pgx.Batch{}
		for i := range ms {
			m := &ms[i]
			if err := c.link(&m.Chain, m.canonical); err != nil {
				return err
			}
			batch.Queue(`INSERT INTO measurements (audit_id, seq, prev_hash, hash, vantage, target, address, port,
				probe_kind, sent, received, duplicates, failure, started_at, finished_at, tool, tool_version, stats, samples_sha256)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19) RETURNING id`,
				m.AuditID, m.Seq, m.PrevHash, m.Hash, m.Vantage, m.Target, m.Address, m.Port, m.ProbeKind,
				m.Sent, m.Received, m.Duplicates, m.Failure, m.StartedAt, m.FinishedAt, m.Tool, m.ToolVersion,
				m.Stats, m.SamplesSHA256).QueryRow(func(row pgx.Row) error { return row.Scan(&m.ID) })
		}
		if err := c.tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("insert measurements: %w", err)
		}
		return copySamples(ctx, c.tx, ms)
	})
}

// copySamples streams every sample through COPY, reusing one row buffer.
func copySamples(ctx context.Context, tx pgx.Tx, ms []Measurement) error {
	mi, si := 0, 0
	row := make([]any, 7)
	src := pgx.CopyFromFunc(func() ([]any, error) {
		for mi < len(ms) && si >= len(ms[mi].Samples) {
			mi, si = mi+1, 0
		}
		if mi >= len(ms) {
			return nil, nil
		}
		m, sm := &ms[mi], &ms[mi].Samples[si]
		si++
		row[0], row[1], row[2] = m.ID, int32(sm.Idx), sm.SentAt
		if sm.Received {
			row[3] = int64(sm.RTT)
		} else {
			row[3] = nil
		}
		if sm.KernelRTT > 0 {
			row[4] = int64(sm.KernelRTT)
		} else {
			row[4] = nil
		}
		row[5], row[6] = sm.Duplicate, int32(sm.Retransmits)
		return row, nil
	})
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"measurement_samples"},
		[]string{"measurement_id", "idx", "sent_at", "rtt_ns", "kernel_rtt_ns", "duplicate", "retransmits"}, src)
	if err != nil {
		return fmt.Errorf("copy samples: %w", err)
	}
	return nil
}

// AppendObservations stores observations in the audit's chain.
func (s *Store) AppendObservations(ctx context.Context, auditID int64, obs []Observation) error {
	for i := range obs {
		o := &obs[i]
		d, err := normJSON(o.Details)
		if err != nil {
			return fmt.Errorf("observation %d (%s): details: %w", i, o.Address, err)
		}
		o.Details, o.ObservedAt = d, pgTime(o.ObservedAt)
		if !o.BuildEpoch.IsZero() {
			o.BuildEpoch = pgTime(o.BuildEpoch)
		}
	}
	return s.withChain(ctx, auditID, func(c *chainTx) error {
		batch := &pgx.Batch{}
		for i := range obs {
			o := &obs[i]
			if err := c.link(&o.Chain, o.canonical); err != nil {
				return err
			}
			var epoch *time.Time
			if !o.BuildEpoch.IsZero() {
				epoch = &o.BuildEpoch
			}
			batch.Queue(`INSERT INTO geo_observations (audit_id, seq, prev_hash, hash, subject, host, address, source,
				database_type, database_path, build_epoch, file_sha256, located_country, registered_country,
				represented_country, anycast, details, observed_at)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18) RETURNING id`,
				o.AuditID, o.Seq, o.PrevHash, o.Hash, o.Subject, o.Host, o.Address, o.Source, o.DatabaseType,
				o.DatabasePath, epoch, o.FileSHA256, o.LocatedCountry, o.RegisteredCountry, o.RepresentedCountry,
				o.Anycast, o.Details, o.ObservedAt).QueryRow(func(row pgx.Row) error { return row.Scan(&o.ID) })
		}
		if err := c.tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("insert observations: %w", err)
		}
		return nil
	})
}

// AppendCheckResults stores guest check results in the audit's chain.
func (s *Store) AppendCheckResults(ctx context.Context, auditID int64, rs []CheckResult) error {
	for i := range rs {
		d, err := normJSON(rs[i].Details)
		if err != nil {
			return fmt.Errorf("check result %d (%s): details: %w", i, rs[i].CheckID, err)
		}
		rs[i].Details, rs[i].CheckedAt = d, pgTime(rs[i].CheckedAt)
	}
	return s.withChain(ctx, auditID, func(c *chainTx) error {
		batch := &pgx.Batch{}
		for i := range rs {
			r := &rs[i]
			if err := c.link(&r.Chain, r.canonical); err != nil {
				return err
			}
			batch.Queue(`INSERT INTO check_results (audit_id, seq, prev_hash, hash, host, check_id, title, category,
				result, observed, expected, remediation, details, checked_at)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) RETURNING id`,
				r.AuditID, r.Seq, r.PrevHash, r.Hash, r.Host, r.CheckID, r.Title, r.Category, r.Result,
				r.Observed, r.Expected, r.Remediation, r.Details, r.CheckedAt).QueryRow(func(row pgx.Row) error { return row.Scan(&r.ID) })
		}
		if err := c.tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("insert check results: %w", err)
		}
		return nil
	})
}

// AppendFindings stores findings in the audit's chain.
func (s *Store) AppendFindings(ctx context.Context, auditID int64, fs []Finding) error {
	for i := range fs {
		e, err := normJSON(fs[i].Evidence)
		if err != nil {
			return fmt.Errorf("finding %d (%s): evidence: %w", i, fs[i].RuleID, err)
		}
		fs[i].Evidence, fs[i].CreatedAt = e, pgTime(fs[i].CreatedAt)
	}
	return s.withChain(ctx, auditID, func(c *chainTx) error {
		batch := &pgx.Batch{}
		for i := range fs {
			f := &fs[i]
			if err := c.link(&f.Chain, f.canonical); err != nil {
				return err
			}
			batch.Queue(`INSERT INTO findings (audit_id, seq, prev_hash, hash, subject, rule_id, legal_reference,
				severity, verdict, compliant, summary, evidence, created_at)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) RETURNING id`,
				f.AuditID, f.Seq, f.PrevHash, f.Hash, f.Subject, f.RuleID, f.LegalReference, f.Severity,
				f.Verdict, f.Compliant, f.Summary, f.Evidence, f.CreatedAt).QueryRow(func(row pgx.Row) error { return row.Scan(&f.ID) })
		}
		if err := c.tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("insert findings: %w", err)
		}
		return nil
	})
}

// Measurements returns an audit's measurements with their samples, in chain order.
func (s *Store) Measurements(ctx context.Context, auditID int64) ([]Measurement, error) {
	return measurements(ctx, s.pool, auditID)
}

func measurements(ctx context.Context, q querier, auditID int64) ([]Measurement, error) {
	rows, err := q.Query(ctx, `SELECT id, audit_id, seq, prev_hash, hash, vantage, target, address, port,
		probe_kind, sent, received, duplicates, failure, started_at, finished_at, tool, tool_version, stats, samples_sha256
		FROM measurements WHERE audit_id = $1 ORDER BY seq`, auditID)
	if err != nil {
		return nil, fmt.Errorf("measurements of audit %d: %w", auditID, err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Measurement, error) {
		var m Measurement
		err := r.Scan(&m.ID, &m.AuditID, &m.Seq, &m.PrevHash, &m.Hash, &m.Vantage, &m.Target, &m.Address, &m.Port,
			&m.ProbeKind, &m.Sent, &m.Received, &m.Duplicates, &m.Failure, &m.StartedAt, &m.FinishedAt, &m.Tool,
			&m.ToolVersion, &m.Stats, &m.SamplesSHA256)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("measurements of audit %d: %w", auditID, err)
	}
	byID := make(map[int64]*Measurement, len(ms))
	for i := range ms {
		byID[ms[i].ID] = &ms[i]
	}
	srows, err := q.Query(ctx, `SELECT s.measurement_id, s.idx, s.sent_at, s.rtt_ns, s.kernel_rtt_ns, s.duplicate, s.retransmits
		FROM measurement_samples s JOIN measurements m ON m.id = s.measurement_id
		WHERE m.audit_id = $1 ORDER BY s.measurement_id, s.idx`, auditID)
	if err != nil {
		return nil, fmt.Errorf("samples of audit %d: %w", auditID, err)
	}
	defer srows.Close()
	for srows.Next() {
		var (
			mid        int64
			sm         Sample
			rtt, krtt  *int64
			idx, retry int32
		)
		if err := srows.Scan(&mid, &idx, &sm.SentAt, &rtt, &krtt, &sm.Duplicate, &retry); err != nil {
			return nil, fmt.Errorf("samples of audit %d: %w", auditID, err)
		}
		sm.Idx, sm.Retransmits = int(idx), int(retry)
		if rtt != nil {
			sm.Received, sm.RTT = true, time.Duration(*rtt)
		}
		if krtt != nil {
			sm.KernelRTT = time.Duration(*krtt)
		}
		if m := byID[mid]; m != nil {
			m.Samples = append(m.Samples, sm)
		}
	}
	if err := srows.Err(); err != nil {
		return nil, fmt.Errorf("samples of audit %d: %w", auditID, err)
	}
	return ms, nil
}

// Observations returns an audit's observations in chain order.
func (s *Store) Observations(ctx context.Context, auditID int64) ([]Observation, error) {
	return observations(ctx, s.pool, auditID)
}

func observations(ctx context.Context, q querier, auditID int64) ([]Observation, error) {
	rows, err := q.Query(ctx, `SELECT id, audit_id, seq, prev_hash, hash, subject, host, address, source,
		database_type, database_path, build_epoch, file_sha256, located_country, registered_country,
		represented_country, anycast, details, observed_at FROM geo_observations WHERE audit_id = $1 ORDER BY seq`, auditID)
	if err != nil {
		return nil, fmt.Errorf("observations of audit %d: %w", auditID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Observation, error) {
		var o Observation
		var epoch *time.Time
		err := r.Scan(&o.ID, &o.AuditID, &o.Seq, &o.PrevHash, &o.Hash, &o.Subject, &o.Host, &o.Address, &o.Source,
			&o.DatabaseType, &o.DatabasePath, &epoch, &o.FileSHA256, &o.LocatedCountry, &o.RegisteredCountry,
			&o.RepresentedCountry, &o.Anycast, &o.Details, &o.ObservedAt)
		if epoch != nil {
			o.BuildEpoch = *epoch
		}
		return o, err
	})
}

// CheckResults returns an audit's guest check results in chain order.
func (s *Store) CheckResults(ctx context.Context, auditID int64) ([]CheckResult, error) {
	return checkResults(ctx, s.pool, auditID)
}

func checkResults(ctx context.Context, q querier, auditID int64) ([]CheckResult, error) {
	rows, err := q.Query(ctx, `SELECT id, audit_id, seq, prev_hash, hash, host, check_id, title, category, result,
		observed, expected, remediation, details, checked_at FROM check_results WHERE audit_id = $1 ORDER BY seq`, auditID)
	if err != nil {
		return nil, fmt.Errorf("check results of audit %d: %w", auditID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CheckResult, error) {
		var c CheckResult
		err := r.Scan(&c.ID, &c.AuditID, &c.Seq, &c.PrevHash, &c.Hash, &c.Host, &c.CheckID, &c.Title, &c.Category,
			&c.Result, &c.Observed, &c.Expected, &c.Remediation, &c.Details, &c.CheckedAt)
		return c, err
	})
}

// Findings returns an audit's findings in chain order.
func (s *Store) Findings(ctx context.Context, auditID int64) ([]Finding, error) {
	return findings(ctx, s.pool, auditID)
}

func findings(ctx context.Context, q querier, auditID int64) ([]Finding, error) {
	rows, err := q.Query(ctx, `SELECT id, audit_id, seq, prev_hash, hash, subject, rule_id, legal_reference,
		severity, verdict, compliant, summary, evidence, created_at FROM findings WHERE audit_id = $1 ORDER BY seq`, auditID)
	if err != nil {
		return nil, fmt.Errorf("findings of audit %d: %w", auditID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Finding, error) {
		var f Finding
		err := r.Scan(&f.ID, &f.AuditID, &f.Seq, &f.PrevHash, &f.Hash, &f.Subject, &f.RuleID, &f.LegalReference,
			&f.Severity, &f.Verdict, &f.Compliant, &f.Summary, &f.Evidence, &f.CreatedAt)
		return f, err
	})
}

// querier is what the readers need: the pool, or a transaction that gives them one snapshot.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// errChain is the sentinel under every chain verification failure.
var errChain = errors.New("evidence chain broken")

// ChainReport is what Verify found.
type ChainReport struct {
	AuditID int64
	Rows    int64  // evidence rows checked
	Head    []byte // hash of the last row, as recomputed
	Form    int    // the audit's canonical form
	// Bad names the first row that does not match, empty when the chain holds.
	Bad string
}

// OK reports whether the chain holds.
func (r ChainReport) OK() bool { return r.Bad == "" }

type chainRow struct {
	table string
	ch    *Chain
	canon func(form int) ([]byte, error)
	extra func() string // an extra check (samples); returns a reason when it fails
	// samples are a measurement's samples, for ChainDocs.
	samples *[]Sample
}

// Verify recomputes an audit's hash chain from the stored rows and names the first row that does not
// match. A missing audit is an error wrapping ErrNotFound; a broken chain is a report with Bad set.
//
// Everything is read in one REPEATABLE READ, read-only transaction: an audit still being written is seen
// as of one instant, so rows appended between two reads cannot look like a chain cut short.
func (s *Store) Verify(ctx context.Context, auditID int64) (ChainReport, error) {
	return s.verify(ctx, auditID, nil)
}

// verify is Verify, handing each row it reaches to visit (when set) with its canonical encoding.
func (s *Store) verify(ctx context.Context, auditID int64, visit func(ChainDoc)) (ChainReport, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return ChainReport{}, fmt.Errorf("verify audit %d: begin: %w", auditID, err)
	}
	// Read-only: there is nothing to commit, and rolling back ends the snapshot.
	defer tx.Rollback(context.WithoutCancel(ctx))
	a, err := getAudit(ctx, tx, auditID)
	if err != nil {
		return ChainReport{}, err
	}
	ms, err := measurements(ctx, tx, auditID)
	if err != nil {
		return ChainReport{}, err
	}
	obs, err := observations(ctx, tx, auditID)
	if err != nil {
		return ChainReport{}, err
	}
	crs, err := checkResults(ctx, tx, auditID)
	if err != nil {
		return ChainReport{}, err
	}
	fs, err := findings(ctx, tx, auditID)
	if err != nil {
		return ChainReport{}, err
	}
	es, err := entries(ctx, tx, auditID)
	if err != nil {
		return ChainReport{}, err
	}
	steps, err := steps(ctx, tx, auditID)
	if err != nil {
		return ChainReport{}, err
	}
	form := a.CanonicalForm
	rows := make([]chainRow, 0, len(ms)+len(obs)+len(crs)+len(fs)+len(es))
	if form == FormGo && len(es) > 0 {
		return ChainReport{AuditID: auditID, Rows: int64(len(es)),
			Bad: fmt.Sprintf("audit_entries row %d: an audit in canonical form 1 has no header or step entries", es[0].ID)}, nil
	}
	entryRows, bad := a.entryRows(es, steps)
	if bad != "" {
		return ChainReport{AuditID: auditID, Rows: int64(len(es)), Bad: bad}, nil
	}
	rows = append(rows, entryRows...)
	for i := range ms {
		m := &ms[i]
		rows = append(rows, chainRow{"measurements", &m.Chain, m.canonical, func() string {
			if !bytes.Equal(samplesDigest(m.Samples), m.SamplesSHA256) {
				return "its samples do not match samples_sha256"
			}
			return ""
		}, &m.Samples})
	}
	for i := range obs {
		rows = append(rows, chainRow{table: "geo_observations", ch: &obs[i].Chain, canon: obs[i].canonical})
	}
	for i := range crs {
		rows = append(rows, chainRow{table: "check_results", ch: &crs[i].Chain, canon: crs[i].canonical})
	}
	for i := range fs {
		rows = append(rows, chainRow{table: "findings", ch: &fs[i].Chain, canon: fs[i].canonical})
	}
	bySeq := make(map[int64]chainRow, len(rows))
	for _, r := range rows {
		if prev, dup := bySeq[r.ch.Seq]; dup {
			return ChainReport{AuditID: auditID, Rows: int64(len(rows)),
				Bad: fmt.Sprintf("%s row %d and %s row %d both claim seq %d", prev.table, prev.ch.ID, r.table, r.ch.ID, r.ch.Seq)}, nil
		}
		bySeq[r.ch.Seq] = r
	}
	rep := ChainReport{AuditID: auditID, Rows: int64(len(rows)), Form: form}
	head := zeroHash
	first := firstSeq(form)
	for seq := first; seq < first+int64(len(rows)); seq++ {
		r, ok := bySeq[seq]
		if !ok {
			rep.Bad = fmt.Sprintf("seq %d is missing from the chain (a row was deleted)", seq)
			return rep, nil
		}
		name := fmt.Sprintf("%s row %d (seq %d)", r.table, r.ch.ID, seq)
		if !bytes.Equal(r.ch.PrevHash, head) {
			rep.Bad = name + ": prev_hash does not match the hash of the row before it"
			return rep, nil
		}
		canon, err := r.canon(form)
		if err != nil {
			rep.Bad = fmt.Sprintf("%s: %v", name, err)
			return rep, nil
		}
		// Handed over before the hash is checked, so an export shows a changed row as stored.
		if visit != nil {
			d := ChainDoc{Seq: seq, Table: r.table, ID: r.ch.ID, PrevHash: r.ch.PrevHash, Hash: r.ch.Hash, Canonical: canon}
			if r.samples != nil {
				d.Samples = *r.samples
			}
			visit(d)
		}
		h := chainHash(head, canon)
		if !bytes.Equal(h, r.ch.Hash) {
			rep.Bad = name + ": stored hash does not match its contents (the row was changed)"
			return rep, nil
		}
		if r.extra != nil {
			if why := r.extra(); why != "" {
				rep.Bad = name + ": " + why
				return rep, nil
			}
		}
		head = h
	}
	rep.Head = head
	if int64(len(rows)) != a.ChainLength || !bytes.Equal(head, a.ChainHead) {
		rep.Bad = fmt.Sprintf("the audit records a chain of %d rows ending in %x, the stored rows give %d ending in %x (rows were removed from the end)",
			a.ChainLength, a.ChainHead, len(rows), head)
	}
	return rep, nil
}

// Err turns a broken chain into an error for callers that want one.
func (r ChainReport) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("audit %d: %w: %s", r.AuditID, errChain, r.Bad)
}
