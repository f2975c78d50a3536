package storage

import (
	"encoding/json"
	"strings"
	"testing"
)

// RFC 8785 section 3.2.2 and appendix B vectors, and what the first form got wrong.
func TestJCS(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}`,
			`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`},
		{`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		// Go's encoder would write \u003c for <; the first form did.
		{`{"html":"<a&b>","big":9007199254740992,"neg":-9007199254740992}`, `{"big":9007199254740992,"html":"<a&b>","neg":-9007199254740992}`},
	} {
		v, err := canonJSON(FormJCS, json.RawMessage(c.in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := JCS(v)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if string(got) != c.want {
			t.Errorf("JCS(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

// An integer beyond 2^53 would be rounded by RFC 8785's doubles: it is refused, naming where it is, at
// the time it is stored and when a row is hashed.
func TestJCSRefusesInexactIntegers(t *testing.T) {
	if _, err := normJSON(json.RawMessage(`{"a":{"b":[1,9007199254740993]}}`)); err == nil || !strings.Contains(err.Error(), "$.a.b[1]: integer 9007199254740993 is beyond 2^53") {
		t.Errorf("stats with 2^53+1: %v", err)
	}
	if _, err := JCS(map[string]any{"seq": int64(1) << 60}); err == nil || !strings.Contains(err.Error(), "beyond 2^53") {
		t.Errorf("int64 2^60: %v", err)
	}
	// The first form collapsed such integers into a float64: its hash could not tell them apart.
	a, _ := encode(FormGo, map[string]any{"x": mustJSON(t, FormGo, `9007199254740993`)})
	b, _ := encode(FormGo, map[string]any{"x": mustJSON(t, FormGo, `9007199254740992`)})
	if string(a) != string(b) {
		t.Errorf("form 1 now tells 2^53 and 2^53+1 apart (%s, %s): old chains would change hash", a, b)
	}
}

func mustJSON(t *testing.T, form int, s string) any {
	v, err := canonJSON(form, json.RawMessage(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
