//go:build linux

package lab

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The lab records, for every echo and handshake packet, when the delay line read it and when it wrote it
// out, both on the clock the line spins on. A busy machine makes the line late (the thread is not on a
// CPU when a packet falls due), so the configured RTT is only what the lab meant to give; Exchanges says
// what it really gave each echo and handshake, and tests judge a probe against that.

// packetKind classifies the packets whose passage is recorded.
type packetKind uint8

const (
	packetOther packetKind = iota
	packetEchoRequest
	packetEchoReply
	packetSYN
	packetSYNACK
	packetRST // a reset back to the host ends a handshake without one (a closed port)
)

// maxTransits bounds the log (about 40 MB): a sweep of 1,000 targets with 5 echoes and 3 handshakes
// records 16,000. Past it nothing more is recorded and Exchanges reports the overflow.
const maxTransits = 1 << 20

// transit is one recorded packet; times are nanotime values.
type transit struct {
	kind              packetKind
	v6                bool
	target            int32
	id, seq, port     uint16
	arrived, released int64 // released is 0 until the packet is written out
}

// transitLog is appended to by the delay line's thread and read by Exchanges; the mutex is uncontended
// except while a reader copies.
type transitLog struct {
	mu       sync.Mutex
	recs     []transit
	overflow uint64
}

func (l *transitLog) add(t transit) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) >= maxTransits {
		l.overflow++
		return -1
	}
	l.recs = append(l.recs, t)
	return int32(len(l.recs) - 1)
}

func (l *transitLog) release(i int32, now int64) {
	l.mu.Lock()
	l.recs[i].released = now
	l.mu.Unlock()
}

func (l *transitLog) snapshot() ([]transit, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs), l.overflow
}

// classify finds the echo and handshake packets of an IP packet going direction dir: echo requests and
// SYNs towards a target, echo replies and SYN-ACKs back. port is the host-side TCP port.
func classify(ip ipPacket, dir int) (kind packetKind, id, seq, port uint16) {
	h := ip.payload
	if len(h) < 8 {
		return packetOther, 0, 0, 0
	}
	switch ip.proto {
	case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
		request, reply := byte(8), byte(0)
		if ip.v6 {
			if ip.proto != unix.IPPROTO_ICMPV6 {
				return packetOther, 0, 0, 0
			}
			request, reply = 128, 129
		} else if ip.proto != unix.IPPROTO_ICMP {
			return packetOther, 0, 0, 0
		}
		id, seq = uint16(h[4])<<8|uint16(h[5]), uint16(h[6])<<8|uint16(h[7])
		switch {
		case dir == 0 && h[0] == request:
			return packetEchoRequest, id, seq, 0
		case dir == 1 && h[0] == reply:
			return packetEchoReply, id, seq, 0
		}
	case unix.IPPROTO_TCP:
		if len(h) < 14 {
			return packetOther, 0, 0, 0
		}
		const syn, rst, ack = 0x02, 0x04, 0x10
		flags := h[13]
		switch {
		case dir == 1 && flags&rst != 0:
			return packetRST, 0, 0, uint16(h[2])<<8 | uint16(h[3])
		case dir == 0 && flags&(syn|ack) == syn:
			return packetSYN, 0, 0, uint16(h[0])<<8 | uint16(h[1])
		case dir == 1 && flags&(syn|ack) == syn|ack:
			return packetSYNACK, 0, 0, uint16(h[2])<<8 | uint16(h[3])
		}
	}
	return packetOther, 0, 0, 0
}

// ExchangeKind says what a request and its reply were.
type ExchangeKind string

const (
	ExchangeEcho      ExchangeKind = "echo"      // ICMP echo request and echo reply
	ExchangeHandshake ExchangeKind = "handshake" // TCP SYN and SYN-ACK
)

// Exchange is one echo or handshake as the lab carried it.
type Exchange struct {
	Kind   ExchangeKind
	Name   string     // the target's name
	Target netip.Addr // the target's address the exchange went to (IPv4 or IPv6)
	// ID and Seq are the echo's identifier and sequence number as on the wire; LocalPort is the host-side
	// port of a handshake.
	ID, Seq, LocalPort uint16
	// Arrived is when the delay line read the request, Released when it wrote the reply back towards the
	// host; both carry a monotonic reading comparable with time.Now in this process.
	Arrived, Released time.Time
	// ToTarget and ToHost are the one-way delays the line applied (write time minus read time).
	ToTarget, ToHost time.Duration
	// Nominal is the target's configured RTT: what the lab meant to give.
	Nominal time.Duration
}

// Given is the round trip the lab really gave: from reading the request to writing the reply, which is
// both applied delays plus the target kernel's turnaround, as on a real path.
func (e Exchange) Given() time.Duration { return e.Released.Sub(e.Arrived) }

// Late is how much longer than nominal the lab held this exchange.
func (e Exchange) Late() time.Duration { return e.Given() - e.Nominal }

// Exchanges is a lab's record of the echoes and handshakes it carried, in order of the requests' arrival.
type Exchanges []Exchange

// Exchanges pairs every recorded request with its reply. A request without a reply (in flight, refused,
// or dropped on purpose) is left out; a retransmitted SYN counts from the first. Overflow counts packets
// not recorded because the log was full.
func (l *Lab) Exchanges() (xs Exchanges, overflow uint64) {
	if l.line == nil {
		return nil, 0
	}
	recs, overflow := l.line.transits.snapshot()
	type key struct {
		kind          ExchangeKind
		v6            bool
		target        int32
		id, seq, port uint16
	}
	open := map[key]int{} // request awaiting its reply → index in recs
	for i, t := range recs {
		switch t.kind {
		case packetEchoRequest, packetSYN:
			k := key{ExchangeEcho, t.v6, t.target, t.id, t.seq, 0}
			if t.kind == packetSYN {
				k = key{ExchangeHandshake, t.v6, t.target, 0, 0, t.port}
			}
			if t.released == 0 {
				continue
			}
			// An echo sequence number seen again is a new echo; a SYN seen again is a retransmission.
			if _, waiting := open[k]; !waiting || t.kind == packetEchoRequest {
				open[k] = i
			}
		case packetRST:
			delete(open, key{ExchangeHandshake, t.v6, t.target, 0, 0, t.port})
		case packetEchoReply, packetSYNACK:
			k := key{ExchangeEcho, t.v6, t.target, t.id, t.seq, 0}
			if t.kind == packetSYNACK {
				k = key{ExchangeHandshake, t.v6, t.target, 0, 0, t.port}
			}
			j, waiting := open[k]
			if !waiting || t.released == 0 {
				continue
			}
			delete(open, k)
			req := recs[j]
			ep := l.endpoints[t.target]
			target := ep.Addr
			if t.v6 {
				target = ep.Addr6
			}
			xs = append(xs, Exchange{
				Kind: k.kind, Name: ep.Name, Target: target, ID: k.id, Seq: k.seq, LocalPort: k.port,
				Arrived: at(req.arrived), Released: at(t.released),
				ToTarget: time.Duration(req.released - req.arrived), ToHost: time.Duration(t.released - t.arrived),
				Nominal: ep.RTT,
			})
		}
	}
	slices.SortStableFunc(xs, func(a, b Exchange) int { return a.Arrived.Compare(b.Arrived) })
	return xs, overflow
}

// at turns a nanotime value into a time.Time with a monotonic reading.
func at(ns int64) time.Time { return clockBase.Add(time.Duration(ns)) }

// After finds the first exchange of kind with target whose request reached the lab at or after sent: the
// one a probe started at sent. It is false when there is none.
func (xs Exchanges) After(kind ExchangeKind, target netip.Addr, sent time.Time) (Exchange, bool) {
	for _, x := range xs {
		if x.Kind == kind && x.Target == target && !x.Arrived.Before(sent) {
			return x, true
		}
	}
	return Exchange{}, false
}

// Echo finds the echo to target with sequence number seq, whatever its identifier; it is false when there
// is none or more than one.
func (xs Exchanges) Echo(target netip.Addr, seq uint16) (Exchange, bool) {
	var found Exchange
	n := 0
	for _, x := range xs {
		if x.Kind == ExchangeEcho && x.Target == target && x.Seq == seq {
			found = x
			n++
		}
	}
	return found, n == 1
}
