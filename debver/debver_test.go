package debver

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

// compareTests holds a, b and the sign of Compare(a, b). Most come from
// apt's test/libapt/versions.lst and dpkg's lib/dpkg/t/t-version.c.
var compareTests = []struct {
	a, b string
	want int
}{
	// Brief / common knowledge.
	{"1.0~rc1", "1.0", -1},
	{"1:0.1", "2.0", 1},
	{"1.0-1", "1.0-1.1", -1},
	{"1.0+dfsg", "1.0.1", -1},
	{"1.0", "1.0-0", 0},
	{"1.0", "1.0-", 0}, // dpkg rejects "1.0-"; Compare treats the revision as empty
	{"1.0~~", "1.0~", -1},
	{"1.0~", "1.0", -1},
	{"1.0", "1.0a", -1},
	{"1.0a", "1.0+", -1},
	{"1.0~rc1-1", "1.0-1", -1},
	{"2.30-1+deb12u1", "2.30-1", 1},
	{"1.2.3+really1.2.2", "1.2.3", 1},
	{"0:1.0", "1.0", 0},
	{"00:1.0", "0:1.0", 0},
	{"10:1", "9:2", 1},
	{"", "0", -1}, // dpkg --compare-versions: the empty version is lowest
	{"", "~", -1},
	{"", "", 0},
	{" ", "", 0},
	{"", "-", -1},
	{"-", "0", 0},
	{"-", "~", 1},
	{" 1.0 ", "1.0", 0},
	// Long digit strings compare by value, without overflow.
	{"1.99999999999999999999999999", "1.100000000000000000000000000", -1},
	{"1.000000000000000000000000000000001", "1.1", 0},
	{"123456789012345678901234567890", "123456789012345678901234567891", -1},
	{"99999999999999999999:1", "99999999999999999998:9", 1}, // epochs dpkg calls too big
	// apt versions.lst.
	{"7.6p2-4", "7.6-0", 1},
	{"1.0.3-3", "1.0-1", 1},
	{"1.3", "1.2.2-2", 1},
	{"1.3", "1.2.2", 1},
	{"0-pre", "0-pre", 0},
	{"0-pre", "0-pree", -1},
	{"1.1.6r2-2", "1.1.6r-1", 1},
	{"2.6b2-1", "2.6b-2", 1},
	{"98.1p5-1", "98.1-pre2-b6-2", -1},
	{"0.4a6-2", "0.4-1", 1},
	{"1:3.0.5-2", "1:3.0.5.1", -1},
	{"3.0~rc1-1", "3.0-1", -1},
	{"1.0", "1.0-0", 0},
	{"0.2", "1.0-0", -1},
	{"1.0", "1.0-0+b1", -1},
	{"1.0", "1.0-0~", 1},
	{"0:0-0-0", "0-0", 1},
	{"0", "0", 0},
	{"0", "00", 0},
	{"1.2.3", "1.2.3", 0},
	{"4.4.3-2", "4.4.3-2", 0},
	{"1:2ab:5", "1:2ab:5", 0},
	{"7:1-a:b-5", "7:1-a:b-5", 0},
	{"57:1.2.3abYZ+~-4-5", "57:1.2.3abYZ+~-4-5", 0},
	{"1.2.3", "0:1.2.3", 0},
	{"1.2.3", "1.2.3-0", 0},
	{"009", "9", 0},
	{"009ab5", "9ab5", 0},
	{"1.2.3", "1.2.3-1", -1},
	{"1.2.3", "1.2.4", -1},
	{"1.2.4", "1.2.3", 1},
	{"1.2.24", "1.2.3", 1},
	{"0.10.0", "0.8.7", 1},
	{"3.2", "2.3", 1},
	{"1.3.2a", "1.3.2", 1},
	{"0.5.0~git", "0.5.0~git2", -1},
	{"2a", "21", -1},
	{"1.3.2a", "1.3.2b", -1},
	{"1:1.2.3", "1.2.4", 1},
	{"1:1.2.3", "1:1.2.4", -1},
	{"1.2a+~bCd3", "1.2a++", -1},
	{"1.2a+~bCd3", "1.2a+~", 1},
	{"5:2", "304-2", 1},
	{"5:2", "304:2", -1},
	{"25:2", "3:2", 1},
	{"1:2:123", "1:12:4", -1},
	{"1.2-5", "1.2-3-5", -1},
	{"5.10.0", "5.005", 1},
	{"3a9.8", "3.10.2", -1},
	{"3a9.8", "3~10", 1},
	{"1.4+OOo3.0.0~", "1.4+OOo3.0.0-4", -1},
	{"2.4.7-1", "2.4.7-z", -1},
	{"1.002-1+b2", "1.00", 1},
	// dpkg t-version.c.
	{"1:0-0", "2:0-0", -1},
	{"0:1.1", "0:2.2", -1},
	{"0:1.2-1", "0:1.2-2", -1},
	{"0:1.0~", "0:1.0", -1},
	{"0:1.0~rc1", "0:1.0~rc2", -1},
	{"0:1.0", "0:1.0.0", -1},
	{"0:1.0-1", "0:1.0-1~", 1},
	{"0:0-0", "0:0-0", 0},
	{"0:0-00", "0:00-0", 0},
	{"1:2-3", "1:2-3", 0},
	{"0:abc", "0:abd", -1},
	{"0:0.0.0.1.0", "0:0.0.0.1", 1},
	// Characters outside ASCII: after letters, before punctuation
	// (signed-char dpkg).
	{"1.0a", "1.0\xc3", -1},
	{"1.0\xc3", "1.0.", -1},
	{"1.0\xc3", "1.0", 1},
}

func TestCompare(t *testing.T) {
	for _, tt := range compareTests {
		if got := Compare(tt.a, tt.b); got != tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Compare(tt.b, tt.a); got != -tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
		va, erra := Parse(tt.a)
		vb, errb := Parse(tt.b)
		if erra == nil && errb == nil {
			if got := CompareVersions(va, vb); got != tt.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Version
		err  string // substring of the error, "" for success
	}{
		{"1.0", Version{0, "1.0", ""}, ""},
		{"1.0-1", Version{0, "1.0", "1"}, ""},
		{"1:1.0-1", Version{1, "1.0", "1"}, ""},
		{"0:1.0", Version{0, "1.0", ""}, ""},
		{"007:1.0", Version{7, "1.0", ""}, ""},
		{"1.0-1-2", Version{0, "1.0-1", "2"}, ""},
		{"1:2:3-4", Version{1, "2:3", "4"}, ""},
		{"2.30-1+deb12u1", Version{0, "2.30", "1+deb12u1"}, ""},
		{"1.0~rc1+dfsg-1~bpo12+1", Version{0, "1.0~rc1+dfsg", "1~bpo12+1"}, ""},
		{" \t1.0-1 ", Version{0, "1.0", "1"}, ""},
		{"2147483647:1", Version{2147483647, "1", ""}, ""},
		{"abc", Version{0, "abc", ""}, ""}, // dpkg warns only
		{"", Version{}, "empty"},
		{"  ", Version{}, "empty"},
		{"1.0 1", Version{}, "embedded spaces"},
		{":1.0", Version{}, "epoch in version is empty"},
		{"a:1.0", Version{}, "not number"},
		{"+1:1.0", Version{}, "not number"},
		{"-1:1.0", Version{}, "not number"},
		{"2147483648:1", Version{}, "too big"},
		{"99999999999999999999999:1", Version{}, "too big"},
		{"1:", Version{}, "nothing after colon"},
		{"1.0-", Version{}, "revision number is empty"},
		{"-1", Version{}, "upstream version is empty"},
		{"1:-1", Version{}, "upstream version is empty"},
		{"1.0_1", Version{}, "invalid character in version"},
		{"1.0-1_1", Version{}, "invalid character in revision"},
		{"1:1.0-1:1", Version{}, "invalid character in revision"},
		{"1.0-1:1", Version{}, "epoch in version is not number"},
		{"1.0\x00", Version{}, "invalid character in version"},
		{"1.0é", Version{}, "invalid character in version"},
	}
	for _, tt := range tests {
		v, err := Parse(tt.in)
		if tt.err != "" {
			var pe *ParseError
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &pe) || pe.Version != tt.in {
				t.Errorf("Parse(%q) = %v, %v; want error with %q", tt.in, v, err, tt.err)
			}
			continue
		}
		if err != nil || v != tt.want {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", tt.in, v, err, tt.want)
			continue
		}
		back, err := Parse(v.String())
		if err != nil || back != v {
			t.Errorf("Parse(%q.String() = %q) = %#v, %v", tt.in, v.String(), back, err)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		v    Version
		want string
	}{
		{Version{0, "1.0", ""}, "1.0"},
		{Version{0, "1.0", "1"}, "1.0-1"},
		{Version{3, "1.0", "1"}, "3:1.0-1"},
		{Version{0, "1:2", "1"}, "0:1:2-1"},
		{Version{}, ""},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestMustParse(t *testing.T) {
	if MustParse("1:2-3") != (Version{1, "2", "3"}) {
		t.Error("MustParse")
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParse(\"\") did not panic")
		}
	}()
	MustParse("")
}

// genVersion makes a random version string that dpkg compares without
// error (it may warn), sometimes the empty string (dpkg's blank version).
func genVersion(rng *rand.Rand) string {
	if rng.IntN(50) == 0 {
		return ""
	}
	const (
		up   = "0123456789012345678901234567890123456789abcxyzABZ..++~~"
		rev  = "0123456789abz.+~"
		odd  = "_%,="
		head = "0123456789"
	)
	var b strings.Builder
	epoch := rng.IntN(4) == 0
	if epoch {
		fmt.Fprintf(&b, "%s%d:", strings.Repeat("0", rng.IntN(2)), rng.IntN(4))
	}
	hasRev := rng.IntN(2) == 0
	if rng.IntN(20) == 0 {
		b.WriteByte("aZ~."[rng.IntN(4)]) // dpkg warns: no leading digit
	} else {
		b.WriteByte(head[rng.IntN(len(head))])
	}
	for i, n := 0, rng.IntN(10); i < n; i++ {
		switch r := rng.IntN(40); {
		case r == 0 && epoch:
			b.WriteByte(':')
		case r == 1 && hasRev:
			b.WriteByte('-')
		case r == 2:
			b.WriteByte(odd[rng.IntN(len(odd))]) // dpkg warns
		case r == 3:
			b.WriteString(strings.Repeat("9", 15+rng.IntN(15)))
		default:
			b.WriteByte(up[rng.IntN(len(up))])
		}
	}
	if hasRev {
		b.WriteByte('-')
		b.WriteByte(rev[rng.IntN(len(rev))])
		for i, n := 0, rng.IntN(5); i < n; i++ {
			b.WriteByte(rev[rng.IntN(len(rev))])
		}
	}
	return b.String()
}

// mutate returns a version close to v, so that pairs often share prefixes.
func mutate(rng *rand.Rand, v string) string {
	if v == "" {
		return "0"
	}
	const chars = "0123456789a~+.Z"
	b := []byte(v)
	switch rng.IntN(5) {
	case 0:
		b = append(b, chars[rng.IntN(len(chars))])
	case 1:
		i := rng.IntN(len(b))
		if b[i] != ':' && b[i] != '-' {
			b[i] = chars[rng.IntN(len(chars))]
		}
	case 2:
		i := rng.IntN(len(b))
		if b[i] != ':' && b[i] != '-' && i > 0 {
			b = append(b[:i], b[i+1:]...)
		}
	case 3:
		return v + "~" + string(chars[rng.IntN(10)])
	case 4:
		return "0" + v
	}
	return string(b)
}

// genPairs returns n version pairs, half of them near each other.
func genPairs(n int, seed uint64) [][2]string {
	rng := rand.New(rand.NewPCG(seed, 99))
	pairs := make([][2]string, n)
	for i := range pairs {
		a := genVersion(rng)
		var b string
		if i%2 == 0 {
			b = mutate(rng, a)
		} else {
			b = genVersion(rng)
		}
		pairs[i] = [2]string{a, b}
	}
	return pairs
}

// relation names Compare's answer for dpkg --compare-versions.
var relation = map[int]string{-1: "lt", 0: "eq", 1: "gt"}

// dpkgCheck asks dpkg --compare-versions whether each pair stands in the
// relation Compare claims, one shell for the batch (dpkg has no batch mode
// and starts slowly, so every pair costs exactly one dpkg run). It returns
// dpkg's exit status per pair: 0 true, 1 false, 2 refused.
func dpkgCheck(pairs [][2]string) ([]int, error) {
	const script = `while IFS='|' read -r a op b; do
	dpkg --compare-versions "$a" "$op" "$b" 2>/dev/null; echo $?
done`
	var in strings.Builder
	for _, p := range pairs {
		fmt.Fprintf(&in, "%s|%s|%s\n", p[0], relation[Compare(p[0], p[1])], p[1])
	}
	return runBatch(exec.Command("sh", "-c", script), in.String(), len(pairs))
}

// runBatch feeds in to cmd and reads one integer per line of its output.
func runBatch(cmd *exec.Cmd, in string, n int) ([]int, error) {
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", cmd.Path, err)
	}
	var res []int
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r int
		if _, err := fmt.Sscan(sc.Text(), &r); err != nil {
			return nil, fmt.Errorf("%s output %q: %v", cmd.Path, sc.Text(), err)
		}
		res = append(res, r)
	}
	if len(res) != n {
		return nil, fmt.Errorf("%s: %d answers for %d pairs", cmd.Path, len(res), n)
	}
	return res, nil
}

// TestAgainstDpkg cross-checks Compare with the dpkg binary on generated
// pairs and on the table above.
func TestAgainstDpkg(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg not installed")
	}
	n := 100
	if testing.Short() {
		n = 20
	}
	pairs := genPairs(n, 1)
	for _, tt := range compareTests {
		if !strings.ContainsAny(tt.a+tt.b, "|\n\x00") && !strings.HasPrefix(tt.a+tt.b, " ") {
			pairs = append(pairs, [2]string{tt.a, tt.b})
		}
	}
	// Several shells at once: dpkg's start-up dominates.
	const shells = 6
	results := make([][]int, shells)
	errs := make([]error, shells)
	var wg sync.WaitGroup
	chunk := (len(pairs) + shells - 1) / shells
	for s := 0; s < shells; s++ {
		lo, hi := min(s*chunk, len(pairs)), min((s+1)*chunk, len(pairs))
		wg.Go(func() { results[s], errs[s] = dpkgCheck(pairs[lo:hi]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i, rc := range slices.Concat(results...) {
		p := pairs[i]
		switch rc {
		case 0:
		case 2:
			refused++ // dpkg refused a version; Compare still answers
		default:
			t.Errorf("Compare(%q, %q) = %d, but dpkg --compare-versions says not %s",
				p[0], p[1], Compare(p[0], p[1]), relation[Compare(p[0], p[1])])
		}
	}
	if refused > len(pairs)/10 {
		t.Errorf("dpkg refused %d of %d pairs: generator too sloppy", refused, len(pairs))
	}
	t.Logf("%d pairs confirmed by dpkg, %d refused by it", len(pairs)-refused, refused)
}

// perlComparable reports whether Dpkg::Version compares s as dpkg does: s
// is not empty (Dpkg::Version has no empty version), dpkg accepts it (maybe
// with a warning), and its digit runs fit a Perl number exactly.
func perlComparable(s string) bool {
	if s == "" {
		return false
	}
	var pe *ParseError
	if _, err := Parse(s); err != nil && (!errors.As(err, &pe) || !strings.Contains(pe.Msg, "invalid character")) {
		return false
	}
	run := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			if run++; run > 15 {
				return false
			}
		} else {
			run = 0
		}
	}
	return true
}

// TestAgainstDpkgPerl cross-checks many more pairs in one process with
// dpkg's own Perl implementation, Dpkg::Version (libdpkg-perl), when present.
func TestAgainstDpkgPerl(t *testing.T) {
	if err := exec.Command("perl", "-MDpkg::Version", "-e", "1").Run(); err != nil {
		t.Skip("perl Dpkg::Version not available")
	}
	const script = `use Dpkg::Version;
while (<STDIN>) {
	chomp;
	my ($a, $b) = split /\|/, $_, -1;
	print((Dpkg::Version->new($a) <=> Dpkg::Version->new($b)), "\n");
}`
	n := 20000
	if testing.Short() {
		n = 2000
	}
	var pairs [][2]string
	for _, p := range genPairs(n, 2) {
		if perlComparable(p[0]) && perlComparable(p[1]) {
			pairs = append(pairs, p)
		}
	}
	var in strings.Builder
	for _, p := range pairs {
		fmt.Fprintf(&in, "%s|%s\n", p[0], p[1])
	}
	res, err := runBatch(exec.Command("perl", "-e", script), in.String(), len(pairs))
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, p := range pairs {
		if got := Compare(p[0], p[1]); got != res[i] {
			if bad++; bad <= 20 {
				t.Errorf("Compare(%q, %q) = %d, Dpkg::Version says %d", p[0], p[1], got, res[i])
			}
		}
	}
	t.Logf("%d pairs checked against Dpkg::Version", len(pairs))
}

// TestTotalOrder checks reflexivity, antisymmetry and transitivity of
// Compare on random strings, valid or not, by sorting them.
func TestTotalOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const junk = "0123456789:-~+.aZ _\x00\xff"
	var vs []string
	for i := 0; i < 300; i++ {
		if i%3 == 0 {
			b := make([]byte, rng.IntN(8))
			for j := range b {
				b[j] = junk[rng.IntN(len(junk))]
			}
			vs = append(vs, string(b))
		} else {
			vs = append(vs, genVersion(rng))
		}
	}
	slices.SortFunc(vs, Compare)
	for i := range vs {
		if Compare(vs[i], vs[i]) != 0 {
			t.Fatalf("Compare(%q, itself) != 0", vs[i])
		}
		for j := i + 1; j < len(vs); j++ {
			c := Compare(vs[i], vs[j])
			if c > 0 {
				t.Fatalf("not sorted: %q > %q", vs[i], vs[j])
			}
			if Compare(vs[j], vs[i]) != -c {
				t.Fatalf("not antisymmetric: %q, %q", vs[i], vs[j])
			}
		}
	}
}

func BenchmarkCompare(b *testing.B) {
	pairs := genPairs(1024, 3)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pairs[i&1023]
		Compare(p[0], p[1])
		i++
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("1:2.36.1-8+deb12u1~bpo11+1"); err != nil {
			b.Fatal(err)
		}
	}
}
