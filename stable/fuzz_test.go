package stable

import (
	"testing"
)

// FuzzParseText: whatever the text, ParseText returns every section or an
// error, and what Text writes of its sections parses back to them.
func FuzzParseText(f *testing.F) {
	f.Add("[Impact]\na\n[Major Changes]\n\n[Test Plan]\n$ x\n[Where problems could occur]\nw\n[Other Info]\n")
	f.Add("[impact]\n[IMPACT]\n")
	f.Add("x\n[Impact]")
	f.Fuzz(func(t *testing.T, text string) {
		secs, err := ParseText(text)
		if err != nil {
			return
		}
		r := &Request{Sections: secs}
		again, err := ParseText(r.Text())
		if err != nil {
			t.Fatalf("Text of parsed sections does not parse: %v\n%s", err, r.Text())
		}
		for _, s := range Sections {
			if again[s] != secs[s] {
				t.Fatalf("[%s]: %q became %q", s, secs[s], again[s])
			}
		}
	})
}
