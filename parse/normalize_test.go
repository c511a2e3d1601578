package parse

import (
	"strings"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	opt := Options{Now: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	tests := []struct {
		field, in, want string
		note            bool
	}{
		{"client_name", "  Dana   Whitfield ", "Dana Whitfield", false},
		{"client_name", "**Dana Whitfield**", "Dana Whitfield", false},
		{"client_phone", "(555) 014-2000", "5550142000", false},
		{"client_phone", "+1 555 014 2000", "5550142000", false},
		{"client_phone", "1-555-014-2000", "5550142000", false},
		{"client_phone", "555.014.2000 ext. 12", "5550142000", false},
		{"client_phone", "555-014-2000x12", "5550142000", false},
		{"client_phone", "555-0142", "5550142", false},
		{"client_phone", "cell 555-0142 (texts ok)", "5550142", false},
		{"client_phone", "555-0142 or 555-0199", "5550142", false},
		{"client_phone", "+44 20 7946 0000", "+442079460000", false},
		{"client_phone", "ask her daughter", "ask her daughter", false},
		{"client_phone", "N/A", "", false},
		{"referrer_phone", "555 0100", "5550100", false},
		{"client_email", " Dana.Whitfield@Example.COM ", "dana.whitfield@example.com", false},
		{"client_email", "Dana <dana@example.com>", "dana@example.com", false},
		{"client_email", "mailto:dana@example.com.", "dana@example.com", false},
		{"consent", "Yes", "yes", false},
		{"consent", "Y", "yes", false},
		{"consent", "signed 3/1", "yes", false},
		{"consent", "on file", "yes", false},
		{"consent", "X", "yes", false},
		{"consent", "✓", "yes", false},
		{"consent", "not given", "no", false},
		{"consent", "Declined", "no", false},
		{"consent", "pending", "pending", false},
		{"crisis", "none", "no", false},
		{"crisis", "No", "no", false},
		{"crisis", "yes - shut-off notice", "yes", false},
		{"share_outcomes", "TRUE", "yes", false},
		{"date_of_birth", "03/14/1988", "1988-03-14", false},
		{"date_of_birth", "3/14/88", "1988-03-14", false},
		{"date_of_birth", "1/2/06", "2006-01-02", false},
		{"date_of_birth", "1/2/36", "1936-01-02", false},
		{"date_of_birth", "2006-01-02", "2006-01-02", false},
		{"date_of_birth", "Jan 2, 2006", "2006-01-02", false},
		{"date_of_birth", "January 2 2006", "2006-01-02", false},
		{"date_of_birth", "2 January 2006", "2006-01-02", false},
		{"date_of_birth", "Sept. 9th, 1970", "1970-09-09", false},
		{"date_of_birth", "25/12/1990", "1990-12-25", false},
		{"date_of_birth", "02/30/1990", "02/30/1990", false},
		{"date_of_birth", "unknown", "", false},
		{"date_of_birth", "about 40", "about 40", false},
		{"client_zip", "60601-1234", "60601", false},
		{"client_zip", "IL 60601", "60601", false},
		{"client_zip", "K1A 0B1", "K1A 0B1", false},
		{"age", "16 years", "16", false},
		{"age", "about forty", "about forty", false},
		{"notes", "SSN 123-45-6789 on file", "SSN [removed] on file", true},
		{"client_phone", "123-45-6789", removed, true},
		{"SSN", "123456789", removed, true},
		{"Last 4 of SSN", "6789", removed, true},
		{"Card number", "4111111111111111", removed, true},
		{"Household size", "4", "4", false},
	}
	for _, tt := range tests {
		t.Run(tt.field+"/"+tt.in, func(t *testing.T) {
			got, note := Normalize(tt.field, tt.in, opt)
			if got != tt.want {
				t.Errorf("Normalize(%q, %q) = %q, want %q", tt.field, tt.in, got, tt.want)
			}
			if (note != "") != tt.note {
				t.Errorf("note = %q, want note: %v", note, tt.note)
			}
			if note != "" && !strings.Contains(note, tt.field) {
				t.Errorf("note %q does not name the field", note)
			}
		})
	}
}

func TestNormalizePhoneCountry(t *testing.T) {
	tests := []struct{ in, cc, want string }{
		{"+44 20 7946 0000", "44", "2079460000"},
		{"020 7946 0000", "44", "02079460000"},
		{"+1 555 014 2000", "44", "+15550142000"},
		{"(555) 014-2000", "", "5550142000"},
	}
	for _, tt := range tests {
		if got := NormalizePhone(tt.in, tt.cc); got != tt.want {
			t.Errorf("NormalizePhone(%q, %q) = %q, want %q", tt.in, tt.cc, got, tt.want)
		}
	}
}

func TestYesNo(t *testing.T) {
	for _, s := range []string{"yes", "Y", "true", "agreed", "signed", "on file", "obtained", "given", "x", "[x]", "✓", "Yes (verbal)", "sí"} {
		if v, ok := YesNo(s); v != "yes" || !ok {
			t.Errorf("YesNo(%q) = %q, %v; want yes", s, v, ok)
		}
	}
	for _, s := range []string{"no", "N", "false", "none", "not given", "declined", "No - has food"} {
		if v, ok := YesNo(s); v != "no" || !ok {
			t.Errorf("YesNo(%q) = %q, %v; want no", s, v, ok)
		}
	}
	for _, s := range []string{"", "maybe", "pending", "ask client"} {
		if v, ok := YesNo(s); ok {
			t.Errorf("YesNo(%q) = %q, want not recognised", s, v)
		}
	}
}

func TestNameKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Dana Whitfield", "dana whitfield"},
		{"  DANA   WHITFIELD ", "dana whitfield"},
		{"José Peña-Ruiz", "jose pena ruiz"},
		{"O'Brien, Pat", "obrien pat"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NameKey(tt.in); got != tt.want {
			t.Errorf("NameKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	if got := NormalizeEmail("  Dana.W@Example.COM "); got != "dana.w@example.com" {
		t.Errorf("got %q", got)
	}
	if got := NormalizeEmail("none given"); got != "none given" {
		t.Errorf("got %q", got)
	}
}

func TestMaskText(t *testing.T) {
	in := "SSN: 123-45-6789\nNotes: card 4111 1111 1111 1111\nPhone: 555-014-2000\nZIP: 60601-1234\nAcct #: 55512\nssn:123456789"
	want := "SSN: [removed]\nNotes: card [removed]\nPhone: 555-014-2000\nZIP: 60601-1234\nAcct #: [removed]\nssn:[removed]"
	if got := maskText(in); got != want {
		t.Errorf("maskText =\n%s\nwant\n%s", got, want)
	}
}

func FuzzCollapseSpace(f *testing.F) {
	for _, s := range []string{"", " ", "a", "a b", " a", "a ", "a  b", "a\tb", "a\u00a0b", "\u2003x", "x\u0085", "é b", "\xff \xfe", "a b c "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := collapseSpace(s), strings.Join(strings.Fields(s), " "); got != want {
			t.Errorf("collapseSpace(%q) = %q, want %q", s, got, want)
		}
	})
}

func FuzzPlaceholderAndAttribution(f *testing.F) {
	for _, s := range []string{"N/A", "unknown", "UN\u212a", "not applİcable", "On Monday", "LE 3", "el  x", "o", "\u212aon "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		switch strings.ToLower(strings.Trim(s, " .!?")) {
		case "", "n/a", "na", "n.a", "none", "unknown", "unk", "tbd", "-", "--", "---", "?", "not applicable", "not provided", "nil", "null":
			if !isPlaceholder(s) {
				t.Errorf("isPlaceholder(%q) = false", s)
			}
		default:
			if isPlaceholder(s) {
				t.Errorf("isPlaceholder(%q) = true", s)
			}
		}
		l := strings.ToLower(s)
		want := strings.HasPrefix(l, "on ") || strings.HasPrefix(l, "le ") || strings.HasPrefix(l, "am ") || strings.HasPrefix(l, "el ")
		if got := startsAttribution(s); got != want {
			t.Errorf("startsAttribution(%q) = %v, want %v", s, got, want)
		}
	})
}
