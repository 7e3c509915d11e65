package deb822

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// genPackages makes a synthetic Packages file of n stanzas shaped like
// Debian's bookworm main/binary-amd64 (about 710 bytes a stanza: 15-19
// fields, a long Depends, a folded Tag field, checksums).
func genPackages(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 42))
	word := func(min, max int) string {
		const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
		b := make([]byte, min+rng.IntN(max-min+1))
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	hex := func(n int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, n)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
		}
		return string(b)
	}
	var b bytes.Buffer
	b.Grow(n * 720)
	for i := 0; i < n; i++ {
		pkg := word(3, 20)
		ver := fmt.Sprintf("%d.%d.%d-%d", rng.IntN(10), rng.IntN(30), rng.IntN(100), 1+rng.IntN(5))
		fmt.Fprintf(&b, "Package: %s\n", pkg)
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, "Source: %s\n", word(3, 20))
		}
		fmt.Fprintf(&b, "Version: %s\n", ver)
		fmt.Fprintf(&b, "Installed-Size: %d\n", rng.IntN(100000))
		fmt.Fprintf(&b, "Maintainer: Debian %s Team <pkg-%s-devel@lists.alioth.debian.org>\n", word(4, 10), word(4, 10))
		fmt.Fprintf(&b, "Architecture: amd64\n")
		b.WriteString("Depends: ")
		for d, nd := 0, 1+rng.IntN(12); d < nd; d++ {
			if d > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "lib%s%d (>= %d.%d)", word(3, 12), rng.IntN(10), rng.IntN(5), rng.IntN(20))
		}
		b.WriteByte('\n')
		if rng.IntN(4) == 0 {
			b.WriteString("Pre-Depends: dpkg (>= 1.15.6~)\n")
		}
		fmt.Fprintf(&b, "Description: %s %s %s of %s\n", word(3, 10), word(3, 10), word(3, 10), word(5, 12))
		fmt.Fprintf(&b, "Homepage: https://%s.example.org/\n", word(4, 12))
		fmt.Fprintf(&b, "Description-md5: %s\n", hex(32))
		if rng.IntN(2) == 0 {
			fmt.Fprintf(&b, "Tag: devel::%s, implemented-in::c, role::program,\n uitoolkit::%s, use::%s\n", word(3, 8), word(3, 8), word(3, 8))
		}
		fmt.Fprintf(&b, "Section: %s\nPriority: optional\n", word(3, 8))
		fmt.Fprintf(&b, "Filename: pool/main/%c/%s/%s_%s_amd64.deb\n", pkg[0], pkg, pkg, ver)
		fmt.Fprintf(&b, "Size: %d\n", rng.IntN(10000000))
		fmt.Fprintf(&b, "MD5sum: %s\nSHA256: %s\n\n", hex(32), hex(64))
	}
	return b.Bytes()
}

var (
	synthOnce sync.Once
	synth     []byte
)

// synthetic returns 63,000 synthetic stanzas (about 45 MB).
func synthetic() []byte {
	synthOnce.Do(func() { synth = genPackages(63000, 7) })
	return synth
}

// bookworm returns the decompressed local apt list of Debian bookworm main
// amd64, or skips the benchmark.
func bookworm(b *testing.B) []byte {
	b.Helper()
	m, _ := filepath.Glob("/var/lib/apt/lists/*_debian_dists_bookworm_main_binary-amd64_Packages.lz4")
	if len(m) == 0 {
		b.Skip("no bookworm Packages list in /var/lib/apt/lists")
	}
	if _, err := exec.LookPath("lz4"); err != nil {
		b.Skip("lz4 not installed")
	}
	out, err := exec.Command("lz4", "-dc", m[0]).Output()
	if err != nil {
		b.Skipf("lz4 -dc %s: %v", m[0], err)
	}
	return out
}

// scanChecksums is the hot-path pattern: extract Filename, Size and SHA256
// of every stanza.
func scanChecksums(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var paras, total int
	for b.Loop() {
		s := NewScanner(data)
		paras, total = 0, 0
		for s.Scan() {
			fn, size, sum := s.Field("Filename"), s.Field("Size"), s.Field("SHA256")
			if fn == nil || size == nil || len(sum) != 64 {
				b.Fatalf("line %d: missing field", s.Line())
			}
			total += len(fn)
			paras++
		}
		if err := s.Err(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(paras), "stanzas")
	_ = total
}

func BenchmarkScannerSynthetic(b *testing.B) { scanChecksums(b, synthetic()) }

func BenchmarkScannerBookworm(b *testing.B) { scanChecksums(b, bookworm(b)) }

// readParagraphs reads every paragraph with Reader.
func readParagraphs(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(data))
		for {
			p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if p.Get("SHA256") == "" {
				b.Fatal("no SHA256")
			}
		}
	}
}

func BenchmarkReaderSynthetic(b *testing.B) { readParagraphs(b, synthetic()) }

func BenchmarkReaderBookworm(b *testing.B) { readParagraphs(b, bookworm(b)) }

func BenchmarkRoundTripSynthetic(b *testing.B) {
	data := synthetic()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var out bytes.Buffer
	out.Grow(len(data))
	for b.Loop() {
		out.Reset()
		r := NewReader(bytes.NewReader(data))
		w := NewWriter(&out)
		for {
			p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := w.Write(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	if !bytes.Equal(out.Bytes(), data) {
		b.Fatal("round trip differs")
	}
}

// TestBookwormRoundTrip checks the real file when it is there.
func TestBookwormRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	m, _ := filepath.Glob("/var/lib/apt/lists/*_debian_dists_bookworm_main_binary-amd64_Packages.lz4")
	if len(m) == 0 {
		t.Skip("no bookworm Packages list")
	}
	if _, err := os.Stat(m[0]); err != nil {
		t.Skip(err)
	}
	data, err := exec.Command("lz4", "-dc", m[0]).Output()
	if err != nil {
		t.Skipf("lz4: %v", err)
	}
	ps, err := readAll(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) < 50000 {
		t.Errorf("only %d paragraphs", len(ps))
	}
	if !bytes.Equal(writeAll(t, ps), data) {
		t.Error("round trip differs")
	}
	checkScanner(t, data)
}

func TestSyntheticShape(t *testing.T) {
	data := genPackages(1000, 3)
	ps, err := readAll(data)
	if err != nil || len(ps) != 1000 {
		t.Fatalf("%d paragraphs, %v", len(ps), err)
	}
	if avg := len(data) / len(ps); avg < 600 || avg > 850 {
		t.Errorf("average stanza %d bytes, want about 710", avg)
	}
	if !bytes.Equal(writeAll(t, ps), data) {
		t.Error("round trip differs")
	}
	checkScanner(t, data)
}
