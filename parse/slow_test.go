package parse

import (
	"strings"
	"testing"
	"time"
)

// TestPathological feeds inputs built to be slow: deep nesting, long lines,
// many markers. Each must parse within a few seconds.
func TestPathological(t *testing.T) {
	n := func(k int) int { // input sizes, smaller under the race detector
		if raceEnabled {
			return k / 20
		}
		return k
	}
	html := func(body string) string {
		return "Content-Type: text/html\r\n\r\n" + body
	}
	plain := func(body string) string {
		return "Content-Type: text/plain\r\n\r\n" + body
	}
	tests := []struct{ name, msg string }{
		{"deep divs", html(strings.Repeat("<div>", n(100000)) + "Name: Dana" + strings.Repeat("</div>", n(100000)))},
		{"deep gmail quotes", html(strings.Repeat(`<div class="gmail_quote">`, n(50000)) + "x")},
		{"deep outlook headers", html(strings.Repeat(`<div style="border-top:solid">`, n(50000)) + "From: x")},
		{"deep blockquotes with lines", html(strings.Repeat("<blockquote>", 300) + strings.Repeat("a<br>", n(100000)))},
		{"deep tables", html(strings.Repeat("<table><tr><td>", n(20000)) + "x")},
		{"wide table", html("<table>" + strings.Repeat("<tr><td>Name</td><td>Dana</td></tr>", n(100000)) + "</table>")},
		{"many blank lines and quotes", html(strings.Repeat("<br>", n(200000)) + strings.Repeat("<blockquote>x</blockquote>", n(20000)))},
		{"long line", plain(strings.Repeat("On a wrote ", n(500000)))},
		{"many labels", plain(strings.Repeat("Notes: a\n", n(300000)))},
		{"many From blocks", plain(strings.Repeat("From: a\nFrom: b\n", n(200000)))},
		{"many forwards", plain(strings.Repeat("---------- Forwarded message ---------\nFrom: a\n\nName: x\n", n(50000)))},
		{"digit groups", plain("Notes: " + strings.Repeat("1 ", n(1000000)))},
		{"long references", "References: " + strings.Repeat("<a@b> ", n(150000)) + "\r\n\r\nx"},
		{"many parts", "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + strings.Repeat("--b\r\nContent-Type: text/plain\r\n\r\nName: x\r\n", 99) + "--b--\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, _ = Parse(strings.NewReader(tt.msg), Options{})
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Parse took %v", d)
			} else {
				t.Logf("%v", d)
			}
		})
	}
}
