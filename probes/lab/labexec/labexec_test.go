package labexec

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"
)

// The test binary doubles as the lab program: with LABEXEC_CHILD set it serves a fake lab that puts
// target i at 198.18.0.(i+2), or reports itself unavailable.
func TestMain(m *testing.M) {
	switch os.Getenv("LABEXEC_CHILD") {
	case "":
		os.Exit(m.Run())
	case "unavailable":
		Serve(context.Background(), os.Stdin, os.Stdout, func() error { return errors.New("not root") }, nil)
		os.Exit(0)
	default:
		err := Serve(context.Background(), os.Stdin, os.Stdout, func() error { return nil },
			func(_ context.Context, ts []Target) ([]Endpoint, func() error, error) {
				var eps []Endpoint
				for i, t := range ts {
					if t.RTT != 25*time.Millisecond && t.RTT != 2*time.Millisecond {
						return nil, nil, fmt.Errorf("target %s: rtt %v did not survive the pipe", t.Name, t.RTT)
					}
					eps = append(eps, Endpoint{Name: t.Name, Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 2)}), Ports: t.Ports})
				}
				return eps, func() error { fmt.Fprintln(os.Stderr, "closed"); return nil }, nil
			})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func TestStartAndClose(t *testing.T) {
	t.Setenv("LABEXEC_CHILD", "serve")
	p, err := Start(context.Background(), os.Args[0], []Target{{Name: "nix", RTT: 2 * time.Millisecond, Ports: []uint16{443}},
		{Name: "fra", RTT: 25 * time.Millisecond, Ports: []uint16{443}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Endpoints) != 2 || p.Endpoints[1].Name != "fra" || p.Endpoints[1].Addr.String() != "198.18.0.3" || p.Endpoints[1].Ports[0] != 443 {
		t.Errorf("endpoints %+v", p.Endpoints)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := p.stderr.String(); got != "closed\n" {
		t.Errorf("the child did not close its lab when stdin ended: stderr %q", got)
	}
}

func TestStartUnavailable(t *testing.T) {
	t.Setenv("LABEXEC_CHILD", "unavailable")
	_, err := Start(context.Background(), os.Args[0], []Target{{Name: "nix", RTT: time.Millisecond}})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	_, err = Start(context.Background(), "/nonexistent/varde-lab", nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("missing program: want ErrUnavailable, got %v", err)
	}
}
