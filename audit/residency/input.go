package residency

import "github.com/varde/varde"

// Limits for the files the residency audit reads. An inventory of thousands of stores is a few MiB; a
// probe JSON-lines file of 10,000 targets with 20 samples each is about 40 MiB.
var (
	inventoryLimit = varde.Limit{What: "an inventory", Bytes: 16 << 20}
)
