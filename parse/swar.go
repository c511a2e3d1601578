package parse

import "math/bits"

// Word-at-a-time scans: the parser looks at every byte of every value and of
// the whole body for digits and for white space to collapse, and almost
// every stretch of eight bytes has neither. These tests look at eight bytes
// at once, as one uint64, each exact per byte (no carry or borrow crosses a
// byte), after "Bit Twiddling Hacks" (haszero, hasbetween).

const (
	lowBits  = 0x0101010101010101 // 0x01 in every byte
	highBits = 0x8080808080808080 // 0x80 in every byte
)

// word is s[i:i+8] as a little-endian uint64: byte i is the lowest (the
// compiler makes it one load).
func word(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// digitBytes has 0x80 in each byte of x that is an ASCII digit, 0 in the
// others: for a byte b below 0x80, 0xB9-b has its top bit when b <= '9' and
// b+0x50 when b >= '0'.
func digitBytes(x uint64) uint64 {
	low := x &^ highBits
	return (lowBits*(127+'9'+1) - low) & (low + lowBits*(127-('0'-1))) &^ x & highBits
}

// spaceBytes has 0x80 in each byte of x that is ' ', 0 in the others.
func spaceBytes(x uint64) uint64 {
	z := x ^ lowBits*' ' // a space becomes 0
	return ^((z&^highBits + ^uint64(highBits)) | z | ^uint64(highBits))
}

// controlOrHighBytes has 0x80 in each byte of x below ' ' (tab, line ends
// and the other ASCII controls) or not ASCII, 0 in the others.
func controlOrHighBytes(x uint64) uint64 {
	return (x | ^(x&^highBits + lowBits*(0x80-' '))) & highBits
}

// indexDigit is the index of the first ASCII digit in s, or -1.
func indexDigit(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if d := digitBytes(word(s, i)); d != 0 {
			return i + bits.TrailingZeros64(d)/8
		}
	}
	for ; i < len(s); i++ {
		if isDigit(s[i]) {
			return i
		}
	}
	return -1
}
