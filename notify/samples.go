package notify

import "refdesk/store"

// sampleReport and sampleDigest are what NewRenderer renders the report
// and digest templates with before it accepts them (every section filled).
func sampleReport() *Report {
	return &Report{
		Partner: "partner", PartnerName: "Partner Agency", Month: "2026-10", MonthName: "October 2026",
		Received: 3, Decisions: []Count{{"accepted", 2}, {"better fit elsewhere", 1}}, Statuses: []Count{{"enrolled", 1}},
		Eligible: 2, Accepted: 2, EligiblePct: 67, Redirects: []Reason{{"reason", "Service", 1}},
		Missing: []Count{{"Consent", 1}}, Criteria: Criteria{Required: []string{"Client name"}, Redirects: []string{"r"}, Waitlists: []string{"w"}},
		ReplyTime: "1 minute", ReplyN: 3, ContactTime: "1 day", ContactN: 1, PromiseDays: 2, AwaitContact: 1, OpenReferrals: 2,
		Changes: []Count{{"enrolled", 1}}, Outcomes: []Count{{"goal-set", 1}},
		YTD:   &YTD{Grant: "Grant", Since: "2026-07-01", Through: "2026-10-31", Funnel: store.Funnel{Received: 3}},
		Lines: []Line{{CaseID: "C-1", Initials: "D.W.", Received: "2026-10-02", Decision: "accepted", Status: "enrolled"}}, Unlisted: 1,
	}
}

func sampleDigest() *Digest {
	ref := []DigestRef{{Ref: "R-1001", Partner: "p", Client: "Dana W.", Status: "accepted", Note: "n"}}
	msg := []DigestMsg{{Ref: "M-1", From: "a@b", Received: "Nov 1 10:00", Reason: "r"}}
	return &Digest{Date: "2026-11-02", DateName: "Monday, November 2", Since: "Sunday 08:00", New: ref, NewMore: 1,
		Late: ref, NeedsInfo: ref, PromiseDays: 2, NeedsInfoDays: 3, ReplyCap: msg, Held: msg, Quarantined: msg,
		Failed: []DigestOut{{Ref: "O-1", Kind: "accepted", To: "a@b", Status: "failed", Error: "550"}}}
}
