package parse

import (
	"slices"
	"testing"
)

func TestFieldsTable(t *testing.T) {
	want := []string{"client_name", "client_phone", "client_email", "client_zip", "date_of_birth", "age", "language",
		"needs", "crisis", "consent", "share_outcomes", "partner_case_id", "referrer_name", "referrer_phone",
		"best_time", "notes"}
	var got []string
	owner := map[string]string{}
	for _, f := range Fields {
		got = append(got, f.Name)
		if f.Help == "" || f.Example == "" || len(f.Labels) == 0 {
			t.Errorf("%s: Help, Example and Labels are required", f.Name)
		}
		for _, l := range f.Labels {
			k := labelKey(l)
			if k == "" {
				t.Errorf("%s: label %q has no key", f.Name, l)
			}
			if o, dup := owner[k]; dup && o != f.Name {
				t.Errorf("label %q belongs to both %s and %s", l, o, f.Name)
			}
			owner[k] = f.Name
			if sensitiveLabel(l) != notSensitive {
				t.Errorf("%s: label %q would be masked as sensitive", f.Name, l)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Fields order = %v\nwant %v", got, want)
	}
	for k := range labelParts {
		if o, dup := owner[k]; dup {
			t.Errorf("part label %q is also a label of %s", k, o)
		}
	}
}

func TestAliases(t *testing.T) {
	a := NewAliases(map[string][]string{"partner_case_id": {"HMIS #"}, "no_such_field": {"zzz"}})
	tests := []struct {
		label, want string
		ok          bool
	}{
		{"Client name", "client_name", true},
		{"CLIENT NAME", "client_name", true},
		{"name", "client_name", true},
		{"E-mail", "client_email", true},
		{"email", "client_email", true},
		{"D.O.B.", "date_of_birth", true},
		{"Zip Code", "client_zip", true},
		{"zipcode", "client_zip", true},
		{"Case #", "partner_case_id", true},
		{"Your reference", "partner_case_id", true},
		{"Best time to call", "best_time", true},
		{"Reason for referral", "needs", true},
		{"Release of information", "share_outcomes", true},
		{"ROI", "share_outcomes", true},
		{"Permission to contact", "consent", true},
		{"Referred by", "referrer_name", true},
		{"Worker phone", "referrer_phone", true},
		{"Additional info", "notes", true},
		{"age", "age", true},
		{"HMIS #", "partner_case_id", true},
		{"zzz", "", false},
		{"Household size", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := a.Field(tt.label)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Field(%q) = %q, %v; want %q, %v", tt.label, got, ok, tt.want, tt.ok)
		}
	}
	var nilAliases *Aliases
	if _, ok := nilAliases.Field("name"); ok {
		t.Error("a nil *Aliases knows no labels")
	}
}

func TestRefs(t *testing.T) {
	tests := []struct {
		subject string
		want    []string
	}{
		{"Re: Referral: Dana Whitfield [R-1042]", []string{"R-1042"}},
		{"RE: [r-7] and [ R-1042 ] and [R-7]", []string{"R-7", "R-1042"}},
		{"Re: R-1042 without brackets", nil},
		{"[R-] [RR-12] (R-12)", nil},
		{"", nil},
	}
	for _, tt := range tests {
		if got := Refs(tt.subject); !slices.Equal(got, tt.want) {
			t.Errorf("Refs(%q) = %v, want %v", tt.subject, got, tt.want)
		}
	}
}

func TestEveryFieldLabelIsOneOfItsLabels(t *testing.T) {
	a := NewAliases(nil)
	for _, f := range Fields {
		if f.Label == "" {
			t.Errorf("%s has no display label", f.Name)
			continue
		}
		if got, ok := a.Field(f.Label); !ok || got != f.Name {
			t.Errorf("the display label %q of %s reads as %q", f.Label, f.Name, got)
		}
	}
}
