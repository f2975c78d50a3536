package job

import "github.com/varde/varde"

// configLimit bounds an audit.yaml; a config naming thousands of targets is well under 1 MiB.
var configLimit = varde.Limit{What: "an audit config", Bytes: 4 << 20}
