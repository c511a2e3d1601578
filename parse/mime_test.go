package parse

import (
	"strings"
	"testing"
)

func TestDecodeQP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Jos=E9 Pe=F1a", "Jos\xe9 Pe\xf1a"},
		{"soft=\r\nbreak", "softbreak"},
		{"soft=  \nbreak", "softbreak"},
		{"a=3Db", "a=b"},
		{"bad =ZZ escape", "bad =ZZ escape"},
		{"trailing =", "trailing "},
		{"ctrl \x0c kept", "ctrl \x0c kept"},
	}
	for _, tt := range tests {
		if got := string(decodeQP([]byte(tt.in))); got != tt.want {
			t.Errorf("decodeQP(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeBase64(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Q2xpZW50IG5hbWU6IERhbmE=", "Client name: Dana"},
		{"Q2xp\r\nZW50\r\n", "Client"},
		{"Q2xp ZW50 IG5h bWU6", "Client name:"},
		{"QQ==Qg==", "AB"},
		{"Q2xp*ZW50!", "Client"},
		{"Q", ""},
	}
	for _, tt := range tests {
		if got := string(decodeBase64([]byte(tt.in))); got != tt.want {
			t.Errorf("decodeBase64(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnflow(t *testing.T) {
	in := "Notes: she works nights and \nprefers texts.\n> quoted soft \n> line\n-- \nsig"
	want := "Notes: she works nights and prefers texts.\n> quoted soft line\n-- \nsig"
	if got := unflow(in, false); got != want {
		t.Errorf("unflow =\n%q\nwant\n%q", got, want)
	}
	if got := unflow("a \nb", true); got != "ab" {
		t.Errorf("unflow(delsp) = %q", got)
	}
	if got := unflow("  indented\nx", false); !strings.HasPrefix(got, " indented") {
		t.Errorf("space-stuffing: %q", got)
	}
}

func TestDecodeUTF7(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Die Fr+APY-sche", "Die Frösche"},
		{"1 +- 1 = 2", "1 + 1 = 2"},
		{"Hi Mom -+Jjo--!", "Hi Mom -☺-!"},
		{"+ZeVnLIqe-", "日本語"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		if got := decodeUTF7([]byte(tt.in)); got != tt.want {
			t.Errorf("decodeUTF7(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
