package ghapi

import (
	"encoding/binary"
	"fmt"
)

// decodeSnappy decodes one Snappy block, the format of the attestation
// store's blobs (google/snappy's format_description.txt: a varint of the
// decoded length, then literals and back-references). The length is checked
// against max before anything is allocated, and every element against what
// is left of the input and of the announced output: a hostile blob can
// neither make airlock allocate beyond the cap nor read outside the input.
//
// It is ours rather than a library's because a library that also speaks the
// framed format builds CRC tables at package initialisation, in every airlock
// process (≈ 0.3 ms of each `airlock verify`), to decode a format with no
// checksum.
func decodeSnappy(src []byte, max int) ([]byte, error) {
	n64, k := binary.Uvarint(src)
	if k <= 0 || k > binary.MaxVarintLen32 || n64 > 1<<32-1 {
		return nil, errSnappyCorrupt("malformed length")
	}
	if n64 > uint64(max) {
		return nil, &snappyTooLargeError{n: n64, max: max}
	}
	n := int(n64)
	dst := make([]byte, 0, n)
	s := src[k:]
	for len(s) > 0 {
		tag := s[0]
		var length, offset int
		switch tag & 3 {
		case 0: // literal: the length in the tag, or in 1–4 bytes after it
			length = int(tag >> 2)
			s = s[1:]
			if length >= 60 {
				nb := length - 59
				if len(s) < nb {
					return nil, errSnappyCorrupt("truncated literal length")
				}
				length = 0
				for i := range nb {
					length |= int(s[i]) << (8 * i)
				}
				s = s[nb:]
			}
			length++
			if length > len(s) || length > n-len(dst) {
				return nil, errSnappyCorrupt("literal beyond the input or the announced length")
			}
			dst = append(dst, s[:length]...)
			s = s[length:]
			continue
		case 1:
			if len(s) < 2 {
				return nil, errSnappyCorrupt("truncated copy")
			}
			length, offset = 4+int(tag>>2&7), int(tag&0xe0)<<3|int(s[1])
			s = s[2:]
		case 2:
			if len(s) < 3 {
				return nil, errSnappyCorrupt("truncated copy")
			}
			length, offset = 1+int(tag>>2), int(binary.LittleEndian.Uint16(s[1:3]))
			s = s[3:]
		case 3:
			if len(s) < 5 {
				return nil, errSnappyCorrupt("truncated copy")
			}
			length, offset = 1+int(tag>>2), int(binary.LittleEndian.Uint32(s[1:5]))
			s = s[5:]
		}
		if offset <= 0 || offset > len(dst) || length > n-len(dst) {
			return nil, errSnappyCorrupt("copy outside what was decoded, or beyond the announced length")
		}
		// A copy may overlap what it writes (offset < length): byte by byte.
		for range length {
			dst = append(dst, dst[len(dst)-offset])
		}
	}
	if len(dst) != n {
		return nil, errSnappyCorrupt(fmt.Sprintf("decoded %d bytes, the block announces %d", len(dst), n))
	}
	return dst, nil
}

type errSnappyCorrupt string

func (e errSnappyCorrupt) Error() string { return "snappy: corrupt block: " + string(e) }

type snappyTooLargeError struct {
	n   uint64
	max int
}

func (e *snappyTooLargeError) Error() string {
	return fmt.Sprintf("snappy block decodes to %d bytes, more than %d", e.n, e.max)
}
