package debpkg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"
)

// putCRC sets the CRC32 that ends an xz block header.
func putCRC(h []byte) {
	binary.LittleEndian.PutUint32(h[len(h)-4:], crc32.ChecksumIEEE(h[:len(h)-4]))
}

// xzSample is data that compresses, but not to nothing.
func xzSample(n int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	words := []string{"Package: ", "hello", "\n", "Depends: ", "libc6", " (>= 2.34)", ", ", "Description: ", string(rune('a' + r.IntN(26)))}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(10) == 0 {
			b.WriteByte(byte(r.Uint32()))
		}
	}
	return b.Bytes()[:n]
}

func xzDecode(data []byte) ([]byte, error) {
	r, err := newXZReader(bytes.NewReader(data), int64(len(data)), MaxWindow)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// TestXZCommandLine decodes what the xz program writes: every check type,
// several blocks, several streams, stream padding, uncompressed chunks.
func TestXZCommandLine(t *testing.T) {
	needTool(t, "xz")
	plain := xzSample(300 << 10)
	random := make([]byte, 100<<10) // incompressible: uncompressed chunks
	r := rand.New(rand.NewPCG(5, 6))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	xzOut := func(t *testing.T, in []byte, args ...string) []byte {
		cmd := exec.Command("xz", append([]string{"-c"}, args...)...)
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz %v: %v", args, err)
		}
		return out
	}
	tests := []struct {
		name  string
		plain []byte
		args  []string
		mod   func([]byte) []byte
	}{
		{"crc64", plain, nil, nil},
		{"none", plain, []string{"-C", "none"}, nil},
		{"crc32", plain, []string{"-C", "crc32"}, nil},
		{"sha256", plain, []string{"-C", "sha256"}, nil},
		{"blocks", plain, []string{"--block-size=50000"}, nil},
		{"threads", plain, []string{"-T2", "--block-size=65536"}, nil},
		{"level 0", plain, []string{"-0"}, nil},
		{"extreme", plain, []string{"-9e"}, nil},
		{"incompressible", random, nil, nil},
		{"empty", nil, nil, nil},
		{"padding", plain, nil, func(b []byte) []byte { return append(b, 0, 0, 0, 0, 0, 0, 0, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := xzOut(t, tt.plain, tt.args...)
			if tt.mod != nil {
				data = tt.mod(data)
			}
			got, err := xzDecode(data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plain) {
				t.Fatalf("decoded %d bytes, want %d", len(got), len(tt.plain))
			}
		})
	}
	t.Run("two streams", func(t *testing.T) {
		a, b := xzOut(t, plain[:1000], "-C", "crc32"), xzOut(t, plain[1000:], "-C", "sha256")
		data := append(append(append([]byte{}, a...), 0, 0, 0, 0), b...)
		got, err := xzDecode(data)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("got %d bytes, %v", len(got), err)
		}
	})
}

// TestXZCorrupt flips bytes of an xz file: every corruption must be
// refused (the structure or the check catches it) and never panic.
func TestXZCorrupt(t *testing.T) {
	plain := xzSample(20 << 10)
	data := compress(".xz", plain)
	for i := range data {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(data)
			bad[i] ^= x
			got, err := xzDecode(bad)
			if err == nil && !bytes.Equal(got, plain) {
				t.Fatalf("byte %d ^ %#x: decoded wrong data without an error", i, x)
			}
		}
	}
	tests := []struct {
		name string
		data []byte
		kind error
	}{
		{"truncated", data[:len(data)-1], ErrTruncated},
		{"trailing garbage", append(bytes.Clone(data), 1, 2, 3, 4), ErrInvalid},
		{"odd padding", append(bytes.Clone(data), 0, 0), ErrInvalid},
		{"not xz", []byte("hello, world"), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := xzDecode(tt.data); !errors.Is(err, tt.kind) {
				t.Fatalf("error %v, want %v", err, tt.kind)
			}
		})
	}
}

// TestXZDictionaryLimit: a block asking for a dictionary over the limit is
// refused before anything is allocated for it.
func TestXZDictionaryLimit(t *testing.T) {
	data := compress(".xz", xzSample(1000))
	for _, tt := range []struct {
		dict int
		ok   bool
	}{{MaxWindow, true}, {MaxWindow + 1, false}, {1<<32 - 1, false}} {
		d := bytes.Clone(data)
		setXZDict(d, tt.dict)
		_, err := xzDecode(d)
		if tt.ok && err != nil || !tt.ok && !errors.Is(err, ErrTooLarge) {
			t.Errorf("dictionary %d: error %v", tt.dict, err)
		}
	}
}
