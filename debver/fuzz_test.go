package debver

import "testing"

// FuzzCompare checks that Compare is reflexive, antisymmetric and
// transitive on arbitrary strings, that it agrees with CompareVersions on
// what Parse accepts, and that Parse(v.String()) gives v back.
func FuzzCompare(f *testing.F) {
	for _, tt := range compareTests {
		f.Add(tt.a, tt.b, "1.0")
	}
	f.Add("1:2:3-4-5", "0:2:3-4-5", "")
	f.Add("1.0\x00", "1.0", "1.0\x01")
	f.Add("99999999999:1", "a:1", ":1")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		for _, s := range []string{a, b, c} {
			if Compare(s, s) != 0 {
				t.Fatalf("Compare(%q, itself) != 0", s)
			}
			v, err := Parse(s)
			if err != nil {
				continue
			}
			if back, err := Parse(v.String()); err != nil || back != v {
				t.Fatalf("Parse(%q) = %#v; Parse(%q) = %#v, %v", s, v, v.String(), back, err)
			}
			if Compare(s, v.String()) != 0 {
				t.Fatalf("Compare(%q, %q) != 0", s, v.String())
			}
		}
		ab, ba := Compare(a, b), Compare(b, a)
		if ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("Compare(%q, %q) = %d, reverse %d", a, b, ab, ba)
		}
		bc, ac := Compare(b, c), Compare(a, c)
		if ab <= 0 && bc <= 0 && ac > 0 || ab >= 0 && bc >= 0 && ac < 0 {
			t.Fatalf("not transitive: %q ? %q = %d, %q ? %q = %d, %q ? %q = %d", a, b, ab, b, c, bc, a, c, ac)
		}
		if ab == 0 && bc == 0 && ac != 0 {
			t.Fatalf("equality not transitive: %q, %q, %q", a, b, c)
		}
		va, erra := Parse(a)
		vb, errb := Parse(b)
		if erra == nil && errb == nil && CompareVersions(va, vb) != ab {
			t.Fatalf("CompareVersions(%q, %q) = %d, Compare says %d", a, b, CompareVersions(va, vb), ab)
		}
	})
}
