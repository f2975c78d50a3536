package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// queryChain asks the servers in turn for host's A (then AAAA) records and reads the CNAME chain
// from the answer section, where recursive resolvers put every alias they followed.
func queryChain(ctx context.Context, servers []string, host string) ([]string, error) {
	name, err := dnsmessage.NewName(strings.TrimSuffix(host, ".") + ".")
	if err != nil {
		return nil, fmt.Errorf("bad host name %q: %w", host, err)
	}
	var errs []error
	for _, server := range servers {
		var chain []string
		var ok bool
		for _, qt := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
			answers, err := exchange(ctx, server, name, qt)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", server, err))
				break
			}
			ok = true
			if chain = walkChain(name, answers); len(chain) > 0 {
				return chain, nil
			}
		}
		if ok {
			return nil, nil // the server answered without aliases
		}
	}
	return nil, errors.Join(errs...)
}

// walkChain follows CNAME records from name; it stops at loops and after 16 hops.
func walkChain(name dnsmessage.Name, answers []dnsmessage.Resource) []string {
	var chain []string
	cur := strings.ToLower(name.String())
	seen := map[string]bool{cur: true}
	for hop := 0; hop < 16; hop++ {
		next := ""
		for _, rr := range answers {
			if c, ok := rr.Body.(*dnsmessage.CNAMEResource); ok && strings.ToLower(rr.Header.Name.String()) == cur {
				next = strings.ToLower(c.CNAME.String())
				break
			}
		}
		if next == "" || seen[next] {
			break
		}
		seen[next] = true
		chain = append(chain, strings.TrimSuffix(next, "."))
		cur = next
	}
	return chain
}

// exchange sends one query over UDP and retries over TCP when the answer is truncated.
func exchange(ctx context.Context, server string, name dnsmessage.Name, qt dnsmessage.Type) ([]dnsmessage.Resource, error) {
	id := uint16(rand.Uint32())
	q := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: name, Type: qt, Class: dnsmessage.ClassINET}},
	}
	packed, err := q.Pack()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	msg, err := roundTrip(ctx, &d, "udp", server, packed)
	if err != nil {
		return nil, err
	}
	if msg.Header.Truncated {
		if msg, err = roundTrip(ctx, &d, "tcp", server, packed); err != nil {
			return nil, err
		}
	}
	if msg.Header.ID != id || len(msg.Questions) != 1 || msg.Questions[0].Type != qt ||
		!strings.EqualFold(msg.Questions[0].Name.String(), name.String()) {
		return nil, errors.New("answer does not match the question")
	}
	switch msg.Header.RCode {
	case dnsmessage.RCodeSuccess, dnsmessage.RCodeNameError:
		return msg.Answers, nil
	default:
		return nil, fmt.Errorf("rcode %v", msg.Header.RCode)
	}
}

func roundTrip(ctx context.Context, d *net.Dialer, network, server string, packed []byte) (*dnsmessage.Message, error) {
	conn, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var buf []byte
	if network == "tcp" {
		out := binary.BigEndian.AppendUint16(nil, uint16(len(packed)))
		if _, err := conn.Write(append(out, packed...)); err != nil {
			return nil, err
		}
		var l [2]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return nil, err
		}
		buf = make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(conn, buf); err != nil {
			return nil, err
		}
	} else {
		if _, err := conn.Write(packed); err != nil {
			return nil, err
		}
		buf = make([]byte, 1232)
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		buf = buf[:n]
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf); err != nil {
		return nil, fmt.Errorf("bad DNS answer: %w", err)
	}
	return &m, nil
}
