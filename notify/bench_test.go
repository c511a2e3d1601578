package notify_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"refdesk/notify"
	"refdesk/store"
)

// seedBig writes n referrals spread over the twelve months before
// November 2026 and five partners, with what a program's year leaves
// behind: a created event and a sent reply each; a tenth redirected and a
// tenth still needing information; accepted ones contacted within days,
// and, once weeks old, a third enrolled (completed after three months, with
// an outcome) and the rest closed (unable to contact, declined). A database
// the size SPEC §10 names.
func seedBig(b *testing.B, st *store.Store, n int) {
	b.Helper()
	partners := []string{"northside-housing", "westside-workforce", "p3", "p4", "p5"}
	start := chicago(2025, 11, 1, 0, 0)
	end := chicago(2026, 11, 1, 0, 0)
	span := end.Sub(start)
	tx := st.DB().MustBegin()
	msg, _ := tx.Prepare(`INSERT INTO messages (id, mailbox, uidvalidity, uid, sha256, received_at, processed_at, disposition) VALUES (?, 'INBOX', 1, ?, ?, ?, ?, 'referral')`)
	// created_status is the status a referral was created in, as
	// store.InsertReferral writes it (migration 6): the created event's.
	ref, _ := tx.Prepare(`INSERT INTO referrals (id, partner_id, message_id, decision, created_status, status, client_name, name_key, client_phone, partner_case_id, share_outcomes, received_at, created_at, updated_at, first_contact_at, closed_at) VALUES (?, ?, ?, ?, ?4, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	ev, _ := tx.Prepare(`INSERT INTO events (referral_id, at, by, kind, from_status, to_status) VALUES (?, ?, 'coach', ?, ?, ?)`)
	out, _ := tx.Prepare(`INSERT INTO outbox (kind, message_id, inbound_id, referral_id, to_addr, status, next_attempt_at, created_at, sent_at) VALUES ('accepted', ?, ?, ?, 'cw@x', 'sent', ?, ?, ?)`)
	oc, _ := tx.Prepare(`INSERT INTO outcomes (referral_id, kind, amount_cents, date, by, created_at) VALUES (?, 'savings-increased', 20000, ?, 'coach', ?)`)
	for i := 1; i <= n; i++ {
		id := int64(1000 + i)
		at := start.Add(span / time.Duration(n) * time.Duration(i)).UTC()
		age := end.Sub(at)
		decision := "accepted"
		switch i % 10 {
		case 3:
			decision = "redirected"
		case 7:
			decision = "needs-info"
		}
		status := decision
		var contact, closed *time.Time
		path := []string{}
		if decision == "accepted" && age > 3*24*time.Hour {
			c := at.Add(26 * time.Hour)
			contact = &c
		}
		if decision == "accepted" && age > 21*24*time.Hour {
			switch i % 3 {
			case 0:
				path = []string{"scheduled", "enrolled"}
				if age > 100*24*time.Hour {
					path = append(path, "completed")
				}
			case 1:
				path = []string{"unable-to-contact"}
			case 2:
				path = []string{"client-declined"}
			}
			status = path[len(path)-1]
		}
		if store.IsFinal(status) {
			c := at.Add(time.Duration(len(path)) * 10 * 24 * time.Hour)
			closed = &c
		}
		msg.Exec(i, i, fmt.Sprint("s", i), at, at)
		ref.Exec(id, partners[(i/10)%len(partners)], i, decision, status, fmt.Sprintf("Client %d Person", i), fmt.Sprint("client person ", i),
			fmt.Sprintf("555%07d", i), fmt.Sprintf("C-%d", i), i%2 == 0, at, at, at, contact, closed)
		ev.Exec(id, at, "created", "", decision)
		out.Exec(fmt.Sprint("m", i, "@x"), i, id, at, at, at.Add(40*time.Second))
		from := decision
		for k, to := range path {
			ev.Exec(id, at.Add(time.Duration(k+1)*10*24*time.Hour), "status", from, to)
			from = to
			if to == "enrolled" {
				oc.Exec(id, at.Add(30*24*time.Hour).Format(time.DateOnly), at)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMonthlyReports builds every partner's report for October 2026
// on a 100,000-referral database (SPEC §10: under 1 s for a full month).
func BenchmarkMonthlyReports(b *testing.B) {
	cfg := demoConfig(b)
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "big.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seedBig(b, st, 100_000)
	partners := append(cfg.Partners, cfg.Partners[0], cfg.Partners[0], cfg.Partners[0])
	for i, id := range []string{"p3", "p4", "p5"} {
		partners[2+i].ID = id
	}
	oct, now := chicago(2026, 10, 1, 0, 0), chicago(2026, 11, 1, 7, 0)
	lines, runs, cpu0 := 0, 0, cpuTime()
	for b.Loop() {
		runs++
		lines = 0
		for i := range partners {
			rep, err := notify.BuildReport(context.Background(), cfg, st, &partners[i], oct, now)
			if err != nil {
				b.Fatal(err)
			}
			lines += len(rep.Lines) + rep.Unlisted
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(runs), "cpu-ms/op")
	b.ReportMetric(float64(len(partners)), "partners")
	b.ReportMetric(float64(lines), "referrals-in-reports")
}

// BenchmarkStatsGrant computes `refdesk stats` for a year on the same
// database.
func BenchmarkStatsGrant(b *testing.B) {
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "big.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seedBig(b, st, 100_000)
	from, to := chicago(2025, 11, 1, 0, 0), chicago(2026, 11, 1, 0, 0)
	g := store.Grant{Name: "g", Start: from, End: to, Target: 120}
	runs, cpu0 := 0, cpuTime()
	for b.Loop() {
		runs++
		if _, err := st.Stats(context.Background(), from, to, g, to); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(runs), "cpu-ms/op")
}
