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

func TestSet(t *testing.T) {
	d := func(b byte) Digest { var d Digest; d[0], d[31] = b, b; return d }
	s := NewSet([]Digest{d(3), d(1), d(3), d(200), d(1), d(0)})
	if s.Len() != 4 {
		t.Errorf("Len = %d, want 4 (duplicates once)", s.Len())
	}
	for _, b := range []byte{0, 1, 3, 200} {
		if !s.Has(d(b)) {
			t.Errorf("Has(%d) = false", b)
		}
	}
	for _, b := range []byte{2, 4, 199, 201, 255} {
		if s.Has(d(b)) {
			t.Errorf("Has(%d) = true", b)
		}
	}
	var got []byte
	for x := range s.All() {
		got = append(got, x[0])
	}
	if string(got) != string([]byte{0, 1, 3, 200}) {
		t.Errorf("All = %v, want 0 1 3 200 in order", got)
	}
	if (Set{}).Has(d(0)) || (Set{}).Len() != 0 {
		t.Error("the zero Set is not empty")
	}
}
