package parse

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestParseText(t *testing.T) {
	opt := Options{Now: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	tests := []struct {
		name   string
		text   string
		fields map[string]string // exactly these fields
		extra  map[string]string // exactly these extras (nil: none)
	}{
		{"plain labels", "Client name: Dana Whitfield\nPhone: 555-0142\nConsent: yes",
			map[string]string{"client_name": "Dana Whitfield", "client_phone": "5550142", "consent": "yes"}, nil},
		{"any case and extra spaces", "CLIENT NAME :   Dana Whitfield  \nphone:555-0142",
			map[string]string{"client_name": "Dana Whitfield", "client_phone": "5550142"}, nil},
		{"punctuation-insensitive labels", "E-mail: dana@example.com\nD.O.B.: 01/02/1990\nZip Code: 60601\nCase #: NH-1",
			map[string]string{"client_email": "dana@example.com", "date_of_birth": "1990-01-02", "client_zip": "60601", "partner_case_id": "NH-1"}, nil},
		{"bullets and bold", "- **Client name:** Dana Whitfield\n* Phone: (555) 014-2000\n• Email: d@example.com\n1. ZIP: 60601\n2) Consent: Y",
			map[string]string{"client_name": "Dana Whitfield", "client_phone": "5550142000", "client_email": "d@example.com", "client_zip": "60601", "consent": "yes"}, nil},
		{"gmail plain bold", "*Client name:* Aisha Bello\n*Cell:* 555-0144",
			map[string]string{"client_name": "Aisha Bello", "client_phone": "5550144"}, nil},
		{"markdown table", "| Field | Value |\n|---|---|\n| Client name | Dana |\n| **Phone** | 555-0142 |",
			map[string]string{"client_name": "Dana", "client_phone": "5550142"}, nil},
		{"pipe row with colon", "| Client name: Dana |", map[string]string{"client_name": "Dana"}, nil},
		{"unknown labels kept", "Client name: Dana\nHousehold size: 3\nIncome source: SSI",
			map[string]string{"client_name": "Dana"}, map[string]string{"Household size": "3", "Income source": "SSI"}},
		{"header-like labels dropped", "From: Maria Lopez\nSent: Monday\nTo: referrals\nSubject: referral\nCc: x\nDate: 3/2\nClient name: Dana",
			map[string]string{"client_name": "Dana"}, nil},
		{"empty value not set", "Phone:\nEmail: \nClient name: Dana",
			map[string]string{"client_name": "Dana"}, nil},
		{"value on the next indented line", "Phone:\n    555-0142\nClient name: Dana",
			map[string]string{"client_phone": "5550142", "client_name": "Dana"}, nil},
		{"indented continuation", "Needs: budgeting\n  and credit repair\nConsent: yes",
			map[string]string{"needs": "budgeting and credit repair", "consent": "yes"}, nil},
		{"free text continues unindented", "Notes: prefers texts\nworks nights\n\nAfter the blank line: x",
			map[string]string{"notes": "prefers texts works nights"}, map[string]string{"After the blank line": "x"}},
		{"non-free field does not continue unindented", "Client name: Dana\nWhitfield is her maiden name",
			map[string]string{"client_name": "Dana"}, nil},
		{"bulleted needs", "Needs:\n- budgeting\n- credit repair\nConsent: yes",
			map[string]string{"needs": "budgeting; credit repair", "consent": "yes"}, nil},
		{"blank line ends a value", "Needs: budgeting\n\n  indented prose after a blank line",
			map[string]string{"needs": "budgeting"}, nil},
		{"first value wins", "Phone: 555-0142\nPhone: 555-0199",
			map[string]string{"client_phone": "5550142"}, nil},
		{"needs and notes concatenate", "Needs: budgeting\nNotes: a\n\nNeeds: savings\nNotes: b",
			map[string]string{"needs": "budgeting; savings", "notes": "a; b"}, nil},
		{"URL is not a label", "https://example.com/form\nClient name: Dana",
			map[string]string{"client_name": "Dana"}, nil},
		{"time is not a label", "Call at 10:30 tomorrow\nBest time: 10:30 am",
			map[string]string{"best_time": "10:30 am"}, nil},
		{"address with @ is not a label", "maria@x.example: hello\nClient name: Dana",
			map[string]string{"client_name": "Dana"}, nil},
		{"long prose is not a label", "This sentence is far too long to be a label and it goes on: yes",
			map[string]string{}, nil},
		{"first and last name", "First name: Dana\nLast name: Whitfield",
			map[string]string{"client_name": "Dana Whitfield"}, nil},
		{"contact line", "Contact: dana@example.com / (555) 014-2000",
			map[string]string{"client_email": "dana@example.com", "client_phone": "5550142000"}, nil},
		{"zip from address", "Address: 12 Elm St, Springfield, IL 62704-1234",
			map[string]string{"client_zip": "62704"}, map[string]string{"Address": "12 Elm St, Springfield, IL 62704-1234"}},
		{"placeholders are not values", "Email: n/a\nPhone: none\nClient name: Dana",
			map[string]string{"client_name": "Dana"}, nil},
		{"referrer fields", "Referred by: Maria Lopez\nWorker phone: 555-0100",
			map[string]string{"referrer_name": "Maria Lopez", "referrer_phone": "5550100"}, nil},
		{"age", "Age: 16 years old", map[string]string{"age": "16"}, nil},
		{"referrer and client sections", "Referrer information\nName: Maria Lopez\nPhone: 555-0100\nEmail: maria@x.example\n\nClient information:\nName: Dana Whitfield\nPhone: 555-0142\nEmail: dana@example.com",
			map[string]string{"referrer_name": "Maria Lopez", "referrer_phone": "5550100", "client_name": "Dana Whitfield", "client_phone": "5550142", "client_email": "dana@example.com"},
			map[string]string{"Referrer email": "maria@x.example"}},
		{"heading label with an indented value", "Referred by:\n   Maria Lopez\nClient:\n   Dana Whitfield\nPhone: 555-0142",
			map[string]string{"referrer_name": "Maria Lopez", "client_name": "Dana Whitfield", "client_phone": "5550142"}, nil},
		{"client label under a referrer heading", "--- Caseworker ---\nName: Maria\nClient name: Dana",
			map[string]string{"referrer_name": "Maria", "client_name": "Dana"}, nil},
		{"CRLF", "Client name: Dana\r\nPhone: 555-0142\r\n",
			map[string]string{"client_name": "Dana", "client_phone": "5550142"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ParseText(tt.text, opt)
			if c.Source != "body" {
				t.Errorf("Source = %q", c.Source)
			}
			if !maps.Equal(c.Fields, tt.fields) {
				t.Errorf("Fields = %v\nwant     %v", c.Fields, tt.fields)
			}
			if !maps.Equal(c.Extra, tt.extra) {
				t.Errorf("Extra = %v\nwant    %v", c.Extra, tt.extra)
			}
		})
	}
}

func TestParseTextAliasesFromConfig(t *testing.T) {
	opt := Options{Aliases: map[string][]string{"client_name": {"Nombre del cliente"}, "bogus": {"x"}}}
	c := ParseText("Nombre del cliente: José\nX: y", opt)
	if c.Fields["client_name"] != "José" {
		t.Errorf("Fields = %v", c.Fields)
	}
	if c.Extra["X"] != "y" {
		t.Errorf("an alias of an unknown field must not apply: Extra = %v", c.Extra)
	}
}

func TestParseTextPrivacy(t *testing.T) {
	tests := []struct {
		name, text, secret, note string
	}{
		{"ssn label", "SSN: 123-45-6789", "6789", "SSN-like value in SSN"},
		{"ss# label", "SS#: 123456789", "6789", "SSN-like"},
		{"social security label, odd format", "Social Security Number: xxx-xx-1234 (last 4)", "1234", "SSN-like"},
		{"ssn in notes", "Notes: her social is 123 45 6789", "6789", "SSN-like value in notes"},
		{"card number", "Notes: card 4111 1111 1111 1111 was declined", "1111 1111", "account-number-like value in notes"},
		{"long digit run", "Notes: acct 000123456789012", "123456789012", "account-number-like"},
		{"routing label", "Routing number: 021000021", "021000021", "account-number-like value in Routing number"},
		{"acct label", "Acct: 12345678", "12345678", "account-number-like"},
		{"ssn in an unknown field", "Household: 123-45-6789", "6789", "SSN-like value in Household"},
		{"ssn in a label", "SSN 123-45-6789: on file", "6789", "SSN-like value in SSN [removed]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ParseText(tt.text, Options{})
			all := strings.Join(c.Notes, "\n")
			for _, v := range c.Fields {
				all += "\n" + v
			}
			for k, v := range c.Extra {
				all += "\n" + k + " " + v
			}
			if strings.Contains(all, tt.secret) {
				t.Errorf("%q kept: %+v", tt.secret, c)
			}
			if !strings.Contains(strings.Join(c.Notes, "\n"), tt.note) {
				t.Errorf("Notes = %q, want one about %q", c.Notes, tt.note)
			}
		})
	}

	// Phone numbers, ZIP+4, dates and case IDs are not masked.
	c := ParseText("Phone: 555-014-2000\nCell: (555) 014-2001\nZIP: 60601-1234\nDOB: 1988-03-14\nCase ID: NH-2026-000123\nNotes: call 555-0142 or 555-0199", Options{})
	if len(c.Notes) != 0 {
		t.Errorf("false positives: %q", c.Notes)
	}
	if c.Fields["client_phone"] != "5550142000" || c.Fields["client_zip"] != "60601" || c.Fields["partner_case_id"] != "NH-2026-000123" {
		t.Errorf("Fields = %v", c.Fields)
	}
}
