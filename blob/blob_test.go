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
	s := NewSet(d(3), d(1), d(3), d(200), d(1), d(0))
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
	// A digest that differs from one in the set in its 8th byte is not in
	// it; one that differs after its 8th byte only is taken for it.
	near, far := d(3), d(3)
	near[7]++
	far[8]++
	if s.Has(near) || !s.Has(far) {
		t.Errorf("Has differing in byte 7 = %v, in byte 8 = %v; want false, true", s.Has(near), s.Has(far))
	}
	if (Set{}).Has(d(0)) || (Set{}).Len() != 0 {
		t.Error("the zero Set is not empty")
	}
	var b SetBuilder
	b.Grow(3)
	b.Add(d(9))
	if got := b.Set(); got.Len() != 1 || !got.Has(d(9)) {
		t.Errorf("a builder's set of one: Len %d, Has %v", got.Len(), got.Has(d(9)))
	}
	if b.Set().Len() != 0 {
		t.Error("a builder is not empty after Set")
	}
}
