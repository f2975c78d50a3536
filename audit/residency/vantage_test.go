package residency

import "testing"

func TestParseVantage(t *testing.T) {
	t.Parallel()
	if _, err := ParseVantage("oslo=95,10"); err == nil {
		t.Error("latitude 95 accepted")
	}
	if v, err := ParseVantage("oslo-nix-1=59.91,10.75"); err != nil || v != oslo {
		t.Errorf("ParseVantage = %+v, %v", v, err)
	}
}
