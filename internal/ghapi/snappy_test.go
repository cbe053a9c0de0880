package ghapi

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
)

// Our decoder reads what a real Snappy encoder writes: literals and
// back-references of every width, overlapping copies included.
func TestDecodeSnappyAgreesWithARealEncoder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200_000)
	for i := range random {
		random[i] = byte(r.IntN(256))
	}
	inputs := [][]byte{
		{}, []byte("a"), []byte(strings.Repeat("ab", 40_000)),
		bytes.Repeat([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`), 3000),
		random,
		append(append([]byte{}, random[:70_000]...), random[:70_000]...), // a copy 70 000 bytes back
	}
	for i, in := range inputs {
		enc := s2.EncodeSnappy(nil, in)
		got, err := decodeSnappy(enc, 1<<20)
		if err != nil || !bytes.Equal(got, in) {
			t.Errorf("input %d (%d bytes): %v, equal=%v", i, len(in), err, bytes.Equal(got, in))
		}
	}
}

func TestDecodeSnappyRefusesCorruptBlocks(t *testing.T) {
	good := s2.EncodeSnappy(nil, []byte(strings.Repeat("abcd", 100)))
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "malformed length"},
		{"length only, no data", []byte{10}, "announces 10"},
		{"over the cap", []byte{0x80, 0x80, 0x80, 0x10}, "more than 1024"},
		{"truncated", good[:len(good)-3], "snappy"},
		{"literal beyond input", []byte{5, 4 << 2, 'a'}, "literal beyond"},
		{"copy before any output", []byte{4, 0<<2 | 1, 1}, "copy outside"},
		{"offset zero", []byte{5, 0, 'a', 0<<2 | 1, 0}, "copy outside"},
		{"copy beyond announced length", []byte{2, 0, 'a', 3<<2 | 1, 1}, "beyond the announced"},
		{"truncated literal length", []byte{5, 62 << 2, 1}, "truncated literal length"},
		{"truncated 4-byte copy", []byte{5, 0, 'a', 3, 1, 0}, "truncated copy"},
		{"short output", []byte{3, 0, 'a'}, "decoded 1 bytes, the block announces 3"},
	} {
		got, err := decodeSnappy(tc.in, 1024)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: expected an error naming %q, got %v (%q)", tc.name, tc.want, err, got)
		}
	}
}

// Whatever we accept, a real decoder decodes to the same bytes; nothing
// panics and nothing outgrows the cap.
func FuzzDecodeSnappy(f *testing.F) {
	f.Add(s2.EncodeSnappy(nil, []byte(strings.Repeat("airlock ", 50))))
	f.Add([]byte{5, 0, 'a', 0<<2 | 1, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := decodeSnappy(in, 1<<16)
		if err != nil {
			return
		}
		if len(got) > 1<<16 {
			t.Fatalf("decoded %d bytes past the cap", len(got))
		}
		want, werr := s2.Decode(nil, in)
		if werr != nil || !bytes.Equal(got, want) {
			t.Fatalf("ours decoded %d bytes, s2: %v", len(got), werr)
		}
	})
}
