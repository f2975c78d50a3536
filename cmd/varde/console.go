package main

import (
	"net/http"
	"time"

	"github.com/varde/varde/console"
)

// The web console, mounted by `varde serve` at "/" (the API and the service's own paths take precedence).
func init() {
	mountConsole = func(mux *http.ServeMux, d consoleDeps) error {
		h, err := console.New(console.Config{Logger: d.Logger.With("component", "console"), Now: time.Now,
			Evidence: d.Store, Sessions: d.Store, Tokens: console.StoreTokens{Store: d.Store},
			Schedules: console.ServiceSchedules{Service: d.Scheduler, Store: d.Store}, Agents: d.Store,
			ReportTrust: d.ReportTrust, CheckpointDir: d.CheckpointDir, LogKey: d.LogKey})
		if err != nil {
			return err
		}
		mux.Handle("/", h)
		return nil
	}
}
