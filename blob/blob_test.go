package blob

import (
	"strings"
	"testing"
)

func TestParseDigest(t *testing.T) {
	good := Sum([]byte("x")).String()
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{good, true},
		{strings.ToUpper(good), true},
		{good[:63], false},
		{good + "0", false},
		{"zz" + good[2:], false},
		{"", false},
		{"../../etc/passwd", false},
	} {
		d, err := ParseDigest(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseDigest(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if tt.ok && d.String() != good {
			t.Errorf("ParseDigest(%q) = %s", tt.in, d)
		}
	}
}
