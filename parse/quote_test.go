package parse

import (
	"strings"
	"testing"
)

func TestStripQuoted(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"quoted lines", "New: yes\n> Old: no\n>> older\nMore: yes", "New: yes\nMore: yes"},
		{"on wrote", "Client name: Marcus\n\nOn Mon, Mar 2, 2026 at 9:15 AM Maria Lopez <maria@x.example> wrote:\n> Client name: Dana\nnot quoted but after", "Client name: Marcus"},
		{"on wrote over two lines", "Client name: Marcus\n\nOn Mon, Mar 2, 2026 at 9:15 AM Eastside Financial Coaching <\nreferrals@eastside.example> wrote:\n\n> Client name: Dana", "Client name: Marcus"},
		{"name wrote before quote", "Hi\nMaria Lopez <maria@x.example> wrote:\n> old", "Hi"},
		{"original message", "Client name: Marcus\n\n-----Original Message-----\nFrom: Maria\nSent: Monday\nClient name: Dana", "Client name: Marcus"},
		{"outlook rule", "Client name: Marcus\n\n________________________________\nFrom: Maria Lopez <maria@x.example>\nSent: Monday, March 2, 2026 9:15 AM\nTo: referrals\nSubject: RE: referral\n\nClient name: Dana", "Client name: Marcus"},
		{"outlook header block without rule", "Client name: Marcus\n\nFrom: Maria Lopez\nSent: Monday, March 2, 2026 9:15 AM\nTo: referrals\nSubject: referral\n\nClient name: Dana", "Client name: Marcus"},
		{"bold outlook header", "Client name: Marcus\n\n*From:* Maria Lopez\n*Sent:* Monday\n*To:* referrals\n\nClient name: Dana", "Client name: Marcus"},
		{"signature dash dash", "Client name: Marcus\n-- \nMaria Lopez\nPhone: 555-0100", "Client name: Marcus"},
		{"sent from iphone", "Client name: Marcus\n\nSent from my iPhone", "Client name: Marcus"},
		{"valediction", "Client name: Marcus\nPhone: 555-0147\n\nThanks,\nMaria Lopez\nPhone: 555-0100", "Client name: Marcus\nPhone: 555-0147"},
		{"valediction variants", "Client name: Marcus\n\nBest regards\nMaria\nPhone: 555-0100", "Client name: Marcus"},
		{"kind regards", "A: b\nKind regards,\nPhone: 1", "A: b"},
		{"thank you!", "A: b\nThank you!\nPhone: 1", "A: b"},
		{"valediction in a sentence stays", "Thanks for taking this one.\nClient name: Marcus", "Thanks for taking this one.\nClient name: Marcus"},
		{"valediction before any content stays", "Thanks!\n\nClient name: Marcus", "Thanks!\n\nClient name: Marcus"},
		{"gmail forward kept", "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Intake <intake@x.example>\nDate: Fri, Feb 27, 2026\nSubject: Referral\nTo: Maria\n\nClient name: Nadia\nPhone: 555-0155\n\nThanks,\nIntake\nPhone: 555-0102",
			"FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Intake <intake@x.example>\nDate: Fri, Feb 27, 2026\nSubject: Referral\nTo: Maria\n\nClient name: Nadia\nPhone: 555-0155"},
		{"apple forward kept", "Begin forwarded message:\n\nFrom: Intake <intake@x.example>\nSubject: Referral\nDate: February 27, 2026\nTo: Maria\n\nClient name: Nadia",
			"Begin forwarded message:\n\nFrom: Intake <intake@x.example>\nSubject: Referral\nDate: February 27, 2026\nTo: Maria\n\nClient name: Nadia"},
		{"forward keeps its own body but cuts its quote", "---------- Forwarded message ---------\nFrom: A\nDate: B\n\nClient name: Nadia\n\nOn Mon, X wrote:\n> Client name: Dana",
			"---------- Forwarded message ---------\nFrom: A\nDate: B\n\nClient name: Nadia"},
		{"signature before forward is cut, forward kept", "See below\nThanks,\nMaria\nPhone: 555-0100\n\n---------- Forwarded message ---------\nFrom: A\nDate: B\n\nClient name: Nadia",
			"See below\n\n---------- Forwarded message ---------\nFrom: A\nDate: B\n\nClient name: Nadia"},
		{"nothing to strip", "Client name: Dana", "Client name: Dana"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StripQuoted(tt.text); got != tt.want {
				t.Errorf("StripQuoted =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestStripQuotedForward: in a forwarded message (FW: subject) an Outlook
// header block introduces the forwarded referral, which is kept.
func TestStripQuotedForward(t *testing.T) {
	text := "Please see below.\n\n-----Original Message-----\nFrom: Intake\nSent: Friday\nTo: Maria\nSubject: Referral\n\nClient name: Nadia\n\n-----Original Message-----\nFrom: older\nSent: Thursday\nTo: x\n\nClient name: Dana"
	got := stripQuoted(text, true)
	want := "Please see below.\n\n-----Original Message-----\nFrom: Intake\nSent: Friday\nTo: Maria\nSubject: Referral\n\nClient name: Nadia"
	if got != want {
		t.Errorf("stripQuoted(forward) =\n%q\nwant\n%q", got, want)
	}
	if got := StripQuoted(text); got != "Please see below." {
		t.Errorf("StripQuoted (a reply) = %q", got)
	}
}

// Every valediction valedictRE knows, with a dash, wide spaces and
// punctuation, passes mayBeValediction (valedictMax is long enough).
func TestValedictionFilterKeepsEveryValediction(t *testing.T) {
	src := valedictRE.String()
	alts := src[strings.Index(src, `\s*(`)+4 : strings.Index(src, `)\s*[,.!]`)]
	for _, a := range strings.Split(alts, "|") {
		line := "— " + strings.ReplaceAll(a, `\s+`, " \t ") + " ,.!! "
		if !valedictRE.MatchString(line) {
			t.Fatalf("valedictRE does not match %q: the test reads the regexp wrong", line)
		}
		if !mayBeValediction(line) || !mayBeValediction(strings.ToUpper(line)) {
			t.Errorf("mayBeValediction(%q) = false", line)
		}
	}
}

// mayBeValediction is false only where valedictRE does not match.
func FuzzValediction(f *testing.F) {
	for _, s := range []string{"Thanks!", "— thank  you so much.", "-Thanks in advance!!", "ſincerely yourſ", "\u212aind regards",
		"Best time to call: weekday mornings", "asked about credit building and opening a bank account", "v/r", "thanks\v", "thanks\u00a0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if valedictRE.MatchString(s) && !mayBeValediction(s) {
			t.Errorf("mayBeValediction(%q) = false, valedictRE matches", s)
		}
	})
}
