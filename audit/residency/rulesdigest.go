package residency

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
)

//go:embed rules.go
var rulesSource []byte

// RulesSHA256 is the hex sha256 of rules.go, the source that holds the rules table, as this binary was
// built with it: an audit's chain records it beside RulesVersion, so a table changed without a version
// bump still shows.
func RulesSHA256() string {
	sum := sha256.Sum256(rulesSource)
	return hex.EncodeToString(sum[:])
}
