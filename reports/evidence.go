package reports

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// EvidenceFile is the name of the embedded file that ties a report to the evidence log.
const EvidenceFile = "varde-evidence.json"

// maxEvidence bounds the embedded evidence read back: a head, a leaf and a proof of a few dozen hashes.
const maxEvidence = 1 << 20

// ExtractEvidence returns the EvidenceFile embedded in a PDF (as `pdfdetach -saveall` would write it).
func ExtractEvidence(pdf []byte) (_ []byte, err error) {
	// pdfcpu parses a file varde did not necessarily write: a panic in it is a bad file, not a crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("embedded files: unreadable PDF (%v)", r)
		}
	}()
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	as, err := api.ExtractAttachmentsRaw(bytes.NewReader(pdf), "", nil, conf)
	if err != nil && !strings.Contains(err.Error(), "no attachments") {
		return nil, fmt.Errorf("embedded files: %w", err)
	}
	for _, a := range as {
		if a.FileName != EvidenceFile {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(a, maxEvidence+1))
		if err != nil {
			return nil, fmt.Errorf("embedded %s: %w", EvidenceFile, err)
		}
		if len(b) > maxEvidence {
			return nil, fmt.Errorf("embedded %s: too large (over %d bytes)", EvidenceFile, maxEvidence)
		}
		return b, nil
	}
	return nil, fmt.Errorf("no embedded %s: the report was made without the evidence log (or by an older varde)", EvidenceFile)
}
