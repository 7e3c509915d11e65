package deb822

import "testing"

// fuzzSeeds are inputs that exercise every line kind.
var fuzzSeeds = []string{
	"",
	"Package: foo\nVersion: 1.0\nDescription: x\n long\n .\n more\n\nPackage: bar\n",
	"SHA256:\n abc 12 main/Packages\n def 34 main/Sources\n",
	"# header\n\n\nA: 1\n# c\n 2\nB:\n\n# end",
	"A: 1\r\nB: 2\r\n c\r\n\r\nD: 4\r\n",
	"A:  x  \n\tB\n",
	"\n \n\t\nA:x",
	"A: 1\nnocolon\n",
	" x\n",
	": x\n",
	"A: b\r\r\n",
	"\rA: b\n",
}

// FuzzReader checks that Reader never panics and that whatever it accepts
// is written so that it reads back with the same fields, verbatim and when
// rebuilt from Fields; that it agrees with the reference parser; and that
// reading a byte at a time changes nothing.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstReference(t, data)
		checkWriteReparse(t, data)
		checkSmallReads(t, data)
	})
}

// FuzzScanner checks that Scanner agrees with Reader on paragraphs, fields,
// values, raw bytes, line numbers and errors.
func FuzzScanner(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScanner(t, data)
	})
}
