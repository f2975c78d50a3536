package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/digitorus/timestamp"
)

// fetchTimestamp asks the TSA at url for a token over the signature value (RFC 3161, as
// CAdES requires for the signature time-stamp) and returns the token's ContentInfo DER.
func fetchTimestamp(ctx context.Context, client *http.Client, url string, signature []byte) ([]byte, error) {
	req, err := timestamp.CreateRequest(bytes.NewReader(signature), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true})
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("build HTTP request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/timestamp-query")
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	ts, err := timestamp.ParseResponse(body)
	if err != nil {
		return nil, fmt.Errorf("parse response: %w", err)
	}
	want := sha256.Sum256(signature)
	if ts.HashAlgorithm != crypto.SHA256 || !bytes.Equal(ts.HashedMessage, want[:]) {
		return nil, fmt.Errorf("token imprint does not match the signature")
	}
	if len(ts.RawToken) == 0 {
		return nil, fmt.Errorf("response carries no token")
	}
	return ts.RawToken, nil
}

// Timestamp asks the TSA at url for an RFC 3161 token over data (by its sha256) and returns the token
// (DER). The evidence log time-stamps its checkpoints with it; nil client: a 30-second default.
func Timestamp(ctx context.Context, client *http.Client, url string, data []byte) ([]byte, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return fetchTimestamp(ctx, client, url, data)
}

// CheckTimestamp verifies an RFC 3161 token over data: its signature, its imprint, and its TSA against
// cfg.TSARoots at now (Status TimestampUntrusted when no anchor is given).
func CheckTimestamp(token, data []byte, cfg VerifyConfig, now time.Time) *TimestampReport {
	return checkToken(token, func(h crypto.Hash) []byte {
		x := h.New()
		x.Write(data)
		return x.Sum(nil)
	}, cfg, now)
}
