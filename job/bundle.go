package job

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/varde/varde/storage"
)

// BundleFormat names the evidence bundle format docs/evidence-format.md specifies.
const BundleFormat = "varde-evidence-bundle/1"

// Bundle is everything a third party needs to check one audit without varde: each chain row as the
// bytes that were hashed, measurement samples, report rows, the audit's leaves in the log with inclusion
// proofs, every signed checkpoint with consistency proofs to the latest, and the log's public key.
type Bundle struct {
	Format  string         `json:"format"`
	Audit   BundleAudit    `json:"audit"`
	Chain   []BundleRow    `json:"chain"`
	Reports []BundleReport `json:"reports"`
	Log     BundleLog      `json:"log"`
	// Problems are what varde found wrong while exporting (the bundle is written anyway, as found).
	// A verifier reports them when its own checks fail for want of a proof.
	Problems []string `json:"problems,omitempty"`
}

// BundleAudit is the audits row.
type BundleAudit struct {
	ID            int64           `json:"id"`
	Status        string          `json:"status"`
	FinishedAt    string          `json:"finished_at"`
	CanonicalForm int             `json:"canonical_form"`
	ChainLength   int64           `json:"chain_length"`
	ChainHead     string          `json:"chain_head"` // hex
	Claims        map[string]any  `json:"claims"`     // what a form 2 header commits to
	Config        json.RawMessage `json:"config"`
}

// BundleRow is one chain row: hash = sha256(prev_hash || canonical).
type BundleRow struct {
	Seq       int64          `json:"seq"`
	Table     string         `json:"table"`
	ID        int64          `json:"id"`
	PrevHash  string         `json:"prev_hash"` // hex
	Hash      string         `json:"hash"`      // hex
	Canonical string         `json:"canonical"` // the exact bytes hashed (UTF-8 JSON)
	Samples   []BundleSample `json:"samples,omitempty"`
}

// BundleSample is a measurement sample in the fields its digest covers.
type BundleSample struct {
	Idx         int   `json:"idx"`
	SentAtMicro int64 `json:"sent_at_unix_us"`
	RTTNs       int64 `json:"rtt_ns"`        // -1: no reply
	KernelRTTNs int64 `json:"kernel_rtt_ns"` // -1: none
	Duplicate   bool  `json:"duplicate"`
	Retransmits int   `json:"retransmits"`
}

// BundleReport is a reports row.
type BundleReport struct {
	ID                int64  `json:"id"`
	Kind              string `json:"kind"`
	Path              string `json:"path"`
	SHA256            string `json:"sha256"`
	SignerFingerprint string `json:"signer_fingerprint"`
	CreatedAt         string `json:"created_at"`
}

// BundleLog is the audit's part of the evidence log.
type BundleLog struct {
	PublicKey   string              `json:"public_key"`
	Leaves      []BundleLeaf        `json:"leaves"`
	Checkpoints []string            `json:"checkpoints"` // signed notes, smallest tree first
	Consistency []BundleConsistency `json:"consistency"` // from each older checkpoint to the latest
}

// BundleLeaf is one of the audit's leaves with its inclusion proof in the latest checkpoint.
type BundleLeaf struct {
	Index          int64    `json:"index"`
	Kind           string   `json:"kind"`
	Data           string   `json:"data"`
	TreeSize       int64    `json:"tree_size"`
	InclusionProof []string `json:"inclusion_proof"` // base64, leaf to root
}

// BundleConsistency proves the tree of OldSize leaves is a prefix of the tree of NewSize.
type BundleConsistency struct {
	OldSize int64    `json:"old_size"`
	NewSize int64    `json:"new_size"`
	Proof   []string `json:"proof"`
}

// ExportBundle collects an audit's bundle from the database and the checkpoint directory. It writes
// what it finds: rows that do not verify and proofs that cannot be made are left for the verifier to
// reject, and listed under Problems.
func (l *EvidenceLog) ExportBundle(ctx context.Context, auditID int64) (*Bundle, error) {
	a, err := l.store.GetAudit(ctx, auditID)
	if err != nil {
		return nil, err
	}
	claims, err := a.Claims()
	if err != nil {
		return nil, err
	}
	b := &Bundle{Format: BundleFormat, Chain: []BundleRow{}, Reports: []BundleReport{}}
	b.Audit = BundleAudit{ID: a.ID, Status: string(a.Status), CanonicalForm: a.CanonicalForm, ChainLength: a.ChainLength,
		ChainHead: hex.EncodeToString(a.ChainHead), Claims: claims, Config: a.Config}
	if a.FinishedAt != nil {
		b.Audit.FinishedAt = storage.CanonTime(*a.FinishedAt)
	}
	rep, docs, err := l.store.ChainDocs(ctx, auditID)
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		b.Problems = append(b.Problems, "chain: "+rep.Bad)
	}
	for _, d := range docs {
		row := BundleRow{Seq: d.Seq, Table: d.Table, ID: d.ID, PrevHash: hex.EncodeToString(d.PrevHash), Hash: hex.EncodeToString(d.Hash),
			Canonical: string(d.Canonical)}
		for _, s := range d.Samples {
			bs := BundleSample{Idx: s.Idx, SentAtMicro: s.SentAt.UTC().UnixMicro(), RTTNs: -1, KernelRTTNs: -1,
				Duplicate: s.Duplicate, Retransmits: s.Retransmits}
			if s.Received {
				bs.RTTNs = int64(s.RTT)
			}
			if s.KernelRTT > 0 {
				bs.KernelRTTNs = int64(s.KernelRTT)
			}
			row.Samples = append(row.Samples, bs)
		}
		b.Chain = append(b.Chain, row)
	}
	rs, err := l.store.Reports(ctx, auditID)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		b.Reports = append(b.Reports, BundleReport{ID: r.ID, Kind: r.Kind, Path: r.Path, SHA256: r.SHA256,
			SignerFingerprint: r.SignerFingerprint, CreatedAt: storage.CanonTime(r.CreatedAt)})
	}
	b.Log.PublicKey = l.vkey
	cps, paths, err := l.Checkpoints()
	if err != nil {
		return nil, err
	}
	t, leaves, err := l.tree(ctx)
	if err != nil {
		return nil, err
	}
	b.Log.Checkpoints = []string{}
	b.Log.Consistency = []BundleConsistency{}
	b.Log.Leaves = []BundleLeaf{}
	var latest int64
	for _, c := range cps {
		b.Log.Checkpoints = append(b.Log.Checkpoints, string(c.Signed))
		latest = max(latest, c.Size)
	}
	if len(cps) == 0 {
		b.Problems = append(b.Problems, "log: no checkpoint in "+l.dir)
	}
	if t.Size() < latest {
		b.Problems = append(b.Problems, fmt.Sprintf("log: the database holds %d leaves, the latest checkpoint signs %d (leaves were removed)", t.Size(), latest))
	}
	for i, c := range cps {
		if c.Size == 0 || c.Size == latest {
			continue
		}
		p, err := t.Consistency(c.Size, latest)
		if err != nil {
			b.Problems = append(b.Problems, fmt.Sprintf("log: no consistency proof from %s: %v", paths[i], err))
			continue
		}
		b.Log.Consistency = append(b.Log.Consistency, BundleConsistency{OldSize: c.Size, NewSize: latest, Proof: hashStrings(p)})
	}
	for _, lf := range leaves {
		if lf.AuditID != auditID {
			continue
		}
		bl := BundleLeaf{Index: lf.Idx, Kind: lf.Kind, Data: string(lf.Data), TreeSize: latest, InclusionProof: []string{}}
		if lf.Idx < latest {
			p, err := t.Inclusion(lf.Idx, latest)
			if err != nil {
				b.Problems = append(b.Problems, fmt.Sprintf("log: no inclusion proof of leaf %d: %v", lf.Idx, err))
			} else {
				bl.InclusionProof = hashStrings(p)
			}
		}
		b.Log.Leaves = append(b.Log.Leaves, bl)
	}
	return b, nil
}
