package parse

import "testing"

func TestInitialsAndShortNames(t *testing.T) {
	for name, want := range map[string][2]string{
		"Dana Whitfield":        {"D.W.", "Dana W."},
		"Whitfield, Dana":       {"D.W.", "Dana W."},
		"dana maría de la cruz": {"D.C.", "dana C."},
		"Cher":                  {"C.", "Cher"},
		"":                      {"", ""},
		"Ángel Ñúñez":           {"Á.Ñ.", "Ángel Ñ."},
	} {
		if got := Initials(name); got != want[0] {
			t.Errorf("Initials(%q) = %q, want %q", name, got, want[0])
		}
		if got := ShortName(name); got != want[1] {
			t.Errorf("ShortName(%q) = %q, want %q", name, got, want[1])
		}
	}
}
