package job

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/varde/varde"
	"github.com/varde/varde/evidencelog"
	"github.com/varde/varde/reports"
	"github.com/varde/varde/reports/sign"
	"github.com/varde/varde/storage"
)

// NamedCheckpoint is a checkpoint with where it came from, for messages.
type NamedCheckpoint struct {
	evidencelog.Checkpoint
	Source string
}

// Verification is what VerifyAudit checked, one line each, in order.
type Verification struct {
	AuditID   int64
	Chain     storage.ChainReport
	LeafIndex int64
	Latest    NamedCheckpoint
	Checked   []string
}

// ErrEvidence is under every failed check of VerifyAudit and VerifyReport.
var ErrEvidence = errors.New("evidence does not verify")

func failf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrEvidence}, a...)...)
}

// ReadCheckpoint reads a checkpoint file (one handed out earlier) against this log's key.
func (l *EvidenceLog) ReadCheckpoint(path string) (NamedCheckpoint, error) {
	c, err := evidencelog.ReadFile(path, l.verifier)
	if err != nil {
		return NamedCheckpoint{}, err
	}
	return NamedCheckpoint{Checkpoint: c, Source: path}, nil
}

// VerifyAudit checks an audit the way an auditor holding the log's public key and some checkpoints
// would: the rows against their chain (and the header against the audits row), the chain's head and
// every report row against the audit's leaves in the log, the log against every checkpoint in the
// checkpoint directory and in extra (consistency: it only grew), and the audit's leaves against the
// latest of them (inclusion). The error names the first thing that does not hold.
func (l *EvidenceLog) VerifyAudit(ctx context.Context, auditID int64, extra ...NamedCheckpoint) (*Verification, error) {
	v := &Verification{AuditID: auditID, LeafIndex: -1}
	rep, err := l.store.Verify(ctx, auditID)
	if err != nil {
		return v, err
	}
	v.Chain = rep
	if err := rep.Err(); err != nil {
		return v, fmt.Errorf("%w: rows: %w", ErrEvidence, err)
	}
	v.Checked = append(v.Checked, fmt.Sprintf("rows: the chain of %d rows holds (canonical form %d), head %x", rep.Rows, rep.Form, rep.Head))
	if line, err := checkMonitoring(ctx, l.store, auditID); err != nil {
		return v, err
	} else if line != "" {
		v.Checked = append(v.Checked, line)
	}
	// Checkpoints before leaves, as in Publish.
	cps, paths, err := l.Checkpoints()
	if err != nil {
		return v, failf("checkpoint directory %s: %v", l.dir, err)
	}
	t, leaves, err := l.tree(ctx)
	if err != nil {
		return v, err
	}
	all := append([]NamedCheckpoint(nil), extra...)
	for i, c := range cps {
		all = append(all, NamedCheckpoint{Checkpoint: c, Source: paths[i]})
	}
	if len(all) == 0 {
		return v, failf("no signed checkpoint in %s and none given: nothing ties the database to the log", l.dir)
	}
	for _, c := range all {
		if err := t.CheckAgainst(c.Checkpoint); err != nil {
			return v, fmt.Errorf("log against checkpoint %s (size %d): %w", c.Source, c.Size, err)
		}
		if c.Size > v.Latest.Size || v.Latest.Source == "" {
			v.Latest = c
		}
	}
	v.Checked = append(v.Checked, fmt.Sprintf("log: %d leaves extend each of %d signed checkpoints (consistency proofs hold)", t.Size(), len(all)))
	idx, err := l.store.CheckSealed(ctx, auditID, leaves)
	if err != nil {
		return v, fmt.Errorf("%w: seal: %w", ErrEvidence, err)
	}
	v.LeafIndex = idx
	v.Checked = append(v.Checked, fmt.Sprintf("seal: leaf %d seals this head; every report row matches its leaf", idx))
	for _, lf := range leaves {
		if lf.AuditID != auditID {
			continue
		}
		if err := t.CheckInclusion(v.Latest.Checkpoint, lf.Idx, lf.Data); err != nil {
			hint := ""
			if lf.Idx >= v.Latest.Size {
				hint = " (appended after the latest checkpoint: `varde evidence publish` signs one)"
			}
			return v, fmt.Errorf("%s leaf %d of audit %d against %s: %w%s", lf.Kind, lf.Idx, auditID, v.Latest.Source, err, hint)
		}
	}
	v.Checked = append(v.Checked, fmt.Sprintf("inclusion: the audit's leaves are in the checkpoint of size %d (%s)", v.Latest.Size, v.Latest.Source))
	for _, c := range all {
		line, err := l.checkTimestamp(c)
		if err != nil {
			return v, err
		}
		if line != "" {
			v.Checked = append(v.Checked, line)
		}
	}
	return v, nil
}

// checkTimestamp checks the RFC 3161 token beside a checkpoint file, when there is one: it must cover
// the checkpoint; its TSA is trusted when l.TSARoots anchors it.
func (l *EvidenceLog) checkTimestamp(c NamedCheckpoint) (string, error) {
	token, err := varde.ReadFile(TimestampFile(c.Source), varde.Limit{What: "a time-stamp token", Bytes: 1 << 20})
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", failf("checkpoint %s: %v", c.Source, err)
	}
	tr := sign.CheckTimestamp(token, c.Signed, sign.VerifyConfig{TSARoots: l.TSARoots}, time.Now())
	switch {
	case tr.Status == sign.TimestampInvalid:
		return "", failf("time-stamp %s: %s (the checkpoint was changed after it was time-stamped)", TimestampFile(c.Source), tr.Problem)
	case tr.Status == sign.TimestampTrusted:
		return fmt.Sprintf("time-stamp: the checkpoint of size %d existed at %s (TSA %s, trusted)", c.Size, tr.Time.Format(time.RFC3339), tr.TSA), nil
	}
	return fmt.Sprintf("time-stamp: the checkpoint of size %d was stamped %s by %s, not trusted: %s", c.Size, tr.Time.Format(time.RFC3339), tr.TSA, tr.Problem), nil
}

// VerifyReport checks a signed report PDF against the database: its embedded checkpoint is signed by the
// log's key and the database's log extends it, its inclusion proof puts its leaf in that checkpoint, the
// leaf (the audit's head) is the one the database's rows give, and the file is a report the database
// records. Then the audit itself is verified as by VerifyAudit, with the PDF's checkpoint among those
// held. (The PDF's signature is `varde report verify`'s to check.)
func (l *EvidenceLog) VerifyReport(ctx context.Context, pdf []byte, extra ...NamedCheckpoint) (*Verification, error) {
	raw, err := reports.ExtractEvidence(pdf)
	if err != nil {
		return nil, failf("report: %v", err)
	}
	var ev ReportEvidence
	if err := json.Unmarshal(raw, &ev); err != nil || ev.Type != ReportEvidenceType {
		return nil, failf("report: embedded %s is not varde report evidence (%v)", reports.EvidenceFile, err)
	}
	c, err := evidencelog.Open([]byte(ev.Checkpoint), l.verifier)
	if err != nil {
		return nil, failf("report's checkpoint: %v", err)
	}
	if c.Size != ev.TreeSize {
		return nil, failf("report's proof is for a tree of %d leaves, its checkpoint signs %d", ev.TreeSize, c.Size)
	}
	proof, err := parseHashes(ev.InclusionProof)
	if err != nil {
		return nil, failf("report's inclusion proof: %v", err)
	}
	if err := tlog.CheckRecord(proof, c.Size, c.Root, ev.LeafIndex, tlog.RecordHash([]byte(ev.Leaf))); err != nil {
		return nil, failf("report's inclusion proof does not put its leaf %d in its checkpoint: %v", ev.LeafIndex, err)
	}
	named := NamedCheckpoint{Checkpoint: c, Source: "the report's checkpoint"}
	v, err := l.VerifyAudit(ctx, ev.AuditID, append(extra, named)...)
	if err != nil {
		// Name the change against what the report says, when the rows are what moved.
		var sd struct {
			Head string `json:"head"`
		}
		_ = json.Unmarshal([]byte(ev.Leaf), &sd)
		if v != nil && len(v.Chain.Head) > 0 && sd.Head != hexHead(v.Chain.Head) {
			return v, fmt.Errorf("%w (the report says audit %d's head is %s; the database's rows give %x)", err, ev.AuditID, sd.Head, v.Chain.Head)
		}
		return v, err
	}
	leaves, err := l.store.LogLeaves(ctx)
	if err != nil {
		return v, err
	}
	if v.LeafIndex != ev.LeafIndex || !bytes.Equal(leaves[v.LeafIndex].Data, []byte(ev.Leaf)) {
		return v, failf("the report says audit %d is sealed at leaf %d as %s; the database's log has it at leaf %d as %s",
			ev.AuditID, ev.LeafIndex, ev.Leaf, v.LeafIndex, leaves[v.LeafIndex].Data)
	}
	if hexHead(v.Chain.Head) != ev.Head {
		return v, failf("the report embeds head %s; the database's rows give %x", ev.Head, v.Chain.Head)
	}
	rs, err := l.store.Reports(ctx, ev.AuditID)
	if err != nil {
		return v, err
	}
	logged := map[string]bool{}
	for _, r := range rs {
		logged[r.SHA256] = true
	}
	sum := sha256.Sum256(pdf)
	if !logged[hex.EncodeToString(sum[:])] {
		// `varde report extend` adds revisions (DSS, document time-stamps) after the report was logged:
		// the file as logged is then the part its first signature covers, provided nothing uncovered
		// follows (which `varde report verify` would name).
		extended := false
		if res, err := sign.Verify(pdf, sign.VerifyConfig{}); err == nil && len(res.Problems) == 0 && len(res.Signatures) > 0 {
			first := res.Signatures[0]
			if first.DigestValid && first.SignedLength > 0 && first.SignedLength < int64(len(pdf)) {
				orig := sha256.Sum256(pdf[:first.SignedLength])
				extended = logged[hex.EncodeToString(orig[:])]
			}
		}
		if !extended {
			return v, failf("no report of audit %d in the database has this file's sha256 %x (the file or its reports row changed)", ev.AuditID, sum)
		}
		v.Checked = append(v.Checked, "report: the file was extended after it was logged; its signed first revision is the logged report")
	}
	v.Checked = append(v.Checked, fmt.Sprintf("report: its head, leaf %d, inclusion proof and checkpoint (size %d) agree with the database; its sha256 is a logged report of audit %d",
		ev.LeafIndex, c.Size, ev.AuditID))
	return v, nil
}
