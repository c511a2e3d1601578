package parse

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// decodeBase64BySegments is decodeBase64 as it was first written (the run
// gathered, then decoded with encoding/base64); FuzzTransferDecoders holds
// the decoder that replaced it to it.
func decodeBase64BySegments(b []byte) []byte {
	var out, seg []byte
	flush := func() {
		if len(seg)%4 == 1 {
			seg = seg[:len(seg)-1]
		}
		if len(seg) > 0 {
			buf := make([]byte, base64.RawStdEncoding.DecodedLen(len(seg)))
			n, _ := base64.RawStdEncoding.Decode(buf, seg)
			out = append(out, buf[:n]...)
		}
		seg = seg[:0]
	}
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/':
			seg = append(seg, c)
		case c == '=':
			flush()
		}
	}
	flush()
	return out
}

// decodeQPWhole is decodeQP as it was first written, over the whole input.
func decodeQPWhole(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		switch {
		case j < len(b) && b[j] == '\n':
			i = j
		case j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n':
			i = j + 1
		case j == len(b):
			i = j
		case i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
		default:
			out = append(out, '=')
		}
	}
	return out
}

// pieces feeds b to d in pieces whose sizes cycle through sizes.
func pieces(d transferDecoder, b []byte, sizes []byte) []byte {
	var out []byte
	given := 0
	for k := 0; len(b) > 0; k++ {
		n := 1
		if len(sizes) > 0 {
			n = int(sizes[k%len(sizes)])%7 + 1
			if sizes[k%len(sizes)] > 200 {
				n = 300
			}
		}
		n = min(n, len(b))
		given += n
		out = d.decode(out, b[:n])
		if len(out) > given {
			panic("decoded more than it was given")
		}
		b = b[n:]
	}
	return d.flush(out)
}

func FuzzTransferDecoders(f *testing.F) {
	for _, s := range []string{"Q2xpZW50IG5hbWU6IERhbmE=", "QQ==Qg==", "Q2xp*ZW50!\r\nQ", "Jos=E9 Pe=F1a", "soft=  \r\nbreak=",
		"a=3Db=\r", "= \t", "=4", "=A", "==41", "x=\r\ny=\n=", "trailing =", "00=   0", "= \t \t\r\nx", "=  \t=41"} {
		f.Add([]byte(s), []byte{0, 1, 2, 250})
	}
	f.Fuzz(func(t *testing.T, in, sizes []byte) {
		if got, want := decodeBase64(in), decodeBase64BySegments(in); !bytes.Equal(got, want) {
			t.Fatalf("decodeBase64(%q) = %q, want %q", in, got, want)
		}
		if got, want := pieces(&b64Decoder{}, in, sizes), decodeBase64BySegments(in); !bytes.Equal(got, want) {
			t.Fatalf("base64 in pieces %v of %q = %q, want %q", sizes, in, got, want)
		}
		if got, want := decodeQP(in), decodeQPWhole(in); !bytes.Equal(got, want) {
			t.Fatalf("decodeQP(%q) = %q, want %q", in, got, want)
		}
		if got, want := pieces(&qpDecoder{}, in, sizes), decodeQPWhole(in); !bytes.Equal(got, want) {
			t.Fatalf("quoted-printable in pieces %v of %q = %q, want %q", sizes, in, got, want)
		}
	})
}

// BenchmarkQPBlankRun decodes, in 32 KB pieces, a quoted-printable part
// with an "=" followed by 4 MB of spaces: linear in the run. It was
// scanned again with every piece: 98-103 ms before, 12-13 ms after.
//
//	go test ./parse -run '^$' -bench QPBlankRun
func BenchmarkQPBlankRun(b *testing.B) {
	in := append(append([]byte("A="), bytes.Repeat([]byte(" "), 4<<20)...), 'B')
	var out []byte
	for b.Loop() {
		var d qpDecoder
		for i := 0; i < len(in); i += 32 << 10 {
			out = d.decode(out[:0], in[i:min(i+32<<10, len(in))])
		}
		out = d.flush(out)
	}
}

// decodeBase64 decodes base64 (RFC 2045 §6.8) skipping characters outside
// the alphabet; padding may appear between concatenated chunks.
func decodeBase64(b []byte) []byte {
	var d b64Decoder
	return d.flush(d.decode(make([]byte, 0, len(b)/4*3+3), b))
}
