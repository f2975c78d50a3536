// Package probes measures latency from a vantage to targets: ICMP echo and TCP handshake time, with every
// sample kept and honest statistics (loss, min/median/mean/p95/max, mdev, jitter, duplicates).
//
// # Which ICMP path and why
//
// The issue names github.com/prometheus-community/pro-bing. Reading its source (v0.9.1) shows four limits that
// matter for an audit:
//   - the receive time is time.Now() in processPacket, taken in user space after the packet went through a
//     channel to the run loop, so scheduler and GC delay land in the RTT;
//   - the payload carries a wall-clock send time, so a clock step during a run corrupts RTTs;
//   - one socket (and three goroutines) per Pinger, so a 1,000-target sweep opens 1,000 sockets, and each raw
//     socket receives every ICMP packet on the host (1,000 × 1,000 packet copies to filter);
//   - no per-packet timeout: with Count set, a lost reply and no Timeout, Run never returns.
//
// So the default path (ICMPShared) is our own: one ICMP socket per address family for a whole sweep (raw as
// root, an unprivileged ICMP datagram socket otherwise), echoes matched by identifier, sequence and source
// address, duplicates counted, a per-packet timeout, the send time read from the monotonic clock just
// before sendto and the receive time from the kernel (SO_TIMESTAMPNS control message). The kernel stamp is
// wall clock; it is used only when it lies between the monotonic send time and the user-space receive time,
// otherwise (clock step) the monotonic user-space receive time is used. pro-bing stays available as
// ICMPProBing, one Pinger per target with Timeout always set, as a cross-check.
//
// Figures measured in the latency lab (probes/lab) on the 2-core development VM, 24 Nov 2026:
//   - 3 targets at 2, 25 and 95 ms, 20 samples each (go test -run Lab -v ./probes/), over two runs: median
//     error of the shared ICMP path +0.04 to +0.16 ms, TCP +0.10 to +0.25 ms, pro-bing +0.09 to +0.33 ms
//     (with three targets pro-bing's limits cost little; they show at scale, below).
//   - 1,000 targets spread over 1-100 ms, 5 echoes, 1 s interval, varde probe --json vs fping -C 5 -q -i 1
//     in the same run, lab warmed up by one earlier sweep: |median - truth| p99 0.081 and 0.098 ms for
//     the shared path against 0.087 and 0.187 ms for fping; wall 5.12-5.16 s against 5.55-5.61 s;
//     CPU 0.43-0.71 s against 0.17-0.20 s; peak RSS about 20 MB for both. pro-bing in the same lab:
//     wall 8.4 s, CPU 1.1 s, RSS 34 MB, |median - truth| median 0.8-2.4 ms and p99 15.7-27.1 ms: with
//     1,000 raw sockets every reply is copied to every socket and user-space receive timing collapses.
//     fping with its default 10 ms inter-packet gap (-i) needs 51 s for the same sweep.
//   - Cost, 1 Dec 2026, after the engines moved onto the netpoller (poller.go, rawio.go): bash
//     bench/probe/run -fping-args "-i 1" [-ipv6], three runs each on a 2-core machine shared with other
//     engineers (load 8-10): varde probe --icmp alone 0.55-0.99 × fping's CPU in the same run (median
//     0.64 IPv4, 0.74 half IPv6; before: about 2.5 ×); with its 3,000 TCP handshakes too 0.83-1.74 ×
//     (median 1.04 and 1.34): the handshakes' own kernel work (connect, SYN, RST) is most of the rest.
//     Peak RSS 20 MiB against fping's 2.6 MiB, of which about 12 MiB are pages of the 30 MB executable;
//     anonymous memory 7 MiB against 1 MiB.
//
// Receive buffer: the shared ICMP socket's SO_RCVBUF is sized for every reply that can be outstanding at
// once (overflow.go). Should the kernel still drop replies on it, SO_RXQ_OVFL and SO_MEMINFO say so, and
// echoes whose replies were due meanwhile end as FailOverflow, a measurement error that Stats keeps out
// of the loss share: an overflow is never reported as loss. 10,000 loopback targets, 2 echoes at 100 ms,
// all 20,000 replies counted by the kernel and by the sweep (TestSweepICMP10kLoopbackNoFalseLoss).
//
// Watch runs a sweep every interval until its context ends and hands each round on (watch.go), for
// agents that probe continuously; its memory does not grow with the rounds.
//
// TCP handshake time is the kernel's: tcpi_rtt read with TCP_INFO right after connect, which for a fresh
// connection is exactly the SYN → SYN-ACK sample the kernel took in softirq (see tcp.go), free of
// scheduling and netpoller delay. The connect() wall time (monotonic, from just before connect until the
// engine saw the socket writable) is kept beside it in every sample; a retransmitted SYN (Karn: no
// sequence-based kernel sample) is flagged and its RTT is the wall time. Sample.RTTSource says which.
// In the lab (3 targets at 2, 25 and 95 ms, 20 handshakes each, 1 Dec 2026) the kernel figure's median
// error against the RTT the lab gave is +0.01 to +0.02 ms, the connect() wall time 0.03-0.09 ms above it.
//
// A shared runner (runner.go) resolves names, schedules every sample of a sweep on one timeline (targets
// staggered across the interval so a sweep of N targets takes about as long as one), bounds sockets and
// goroutines, and owns timeouts.
package probes
