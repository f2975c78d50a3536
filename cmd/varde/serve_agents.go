package main

import (
	"flag"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/varde/varde/agentsrv"
	"github.com/varde/varde/agentwire"
	"github.com/varde/varde/storage"
)

// serveAgentFlags are `varde serve`'s options for remote vantage agents. Agents speak only HTTPS: give
// --tls-cert and --tls-key, or put a TLS-terminating proxy in front (request signatures survive it).
type serveAgentFlags struct {
	tlsCert, tlsKey string
	leaseTTL        time.Duration
}

func (f *serveAgentFlags) register(fs *flag.FlagSet, envOr func(name, def string) string) {
	fs.StringVar(&f.tlsCert, "tls-cert", envOr("VARDE_TLS_CERT", ""), "serve HTTPS with this certificate chain PEM ($VARDE_TLS_CERT); agents need HTTPS")
	fs.StringVar(&f.tlsKey, "tls-key", envOr("VARDE_TLS_KEY", ""), "private key PEM for --tls-cert ($VARDE_TLS_KEY)")
	fs.DurationVar(&f.leaseTTL, "agent-lease-ttl", 30*time.Second, "how long an agent's task lease lasts without a heartbeat")
}

func (f *serveAgentFlags) scheme() string {
	if f.tlsCert != "" {
		return "https"
	}
	return "http"
}

// serve serves hs on ln, over TLS when a certificate is given.
func (f *serveAgentFlags) serve(hs *http.Server, ln net.Listener) error {
	if f.tlsCert != "" || f.tlsKey != "" {
		if f.tlsCert == "" || f.tlsKey == "" {
			ln.Close()
			return usagef("serve: give both --tls-cert and --tls-key")
		}
		return hs.ServeTLS(ln, f.tlsCert, f.tlsKey)
	}
	return hs.Serve(ln)
}

func newAgentServer(st *storage.Store, logger *slog.Logger, f serveAgentFlags) (*agentsrv.Server, error) {
	return agentsrv.New(agentsrv.Config{Store: st, Logger: logger.With("component", "agents"), LeaseTTL: f.leaseTTL})
}

// mountAgents serves the agent protocol under /v1/agent/. Agents authenticate by their key, not by
// API tokens.
func mountAgents(mux *http.ServeMux, srv *agentsrv.Server) {
	mux.Handle(agentwire.Prefix+"/", http.StripPrefix(agentwire.Prefix, srv.Handler()))
}
