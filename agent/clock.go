package agent

import (
	"golang.org/x/sys/unix"

	"github.com/varde/varde/agentwire"
)

// KernelClock reads the kernel's NTP state with adjtimex (read-only: no modes set), as chrony or
// ntpd leave it. Synced means the kernel does not flag the clock unsynchronised.
func KernelClock() agentwire.Clock {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return agentwire.Clock{Source: "unavailable", Err: err.Error()}
	}
	return agentwire.Clock{Source: "adjtimex", State: state, Status: tx.Status,
		Synced:     state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0,
		MaxErrorUS: tx.Maxerror, EstErrorUS: tx.Esterror}
}
