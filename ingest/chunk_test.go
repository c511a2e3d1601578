package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"refdesk/store"
)

// chunkStream is a deterministic mix of mail that exercises everything a
// chunk answers from memory: the same clients again (by phone, email, or
// name and date of birth) within a chunk and across chunks, follow-ups that
// change a referral's phone or close it, the same bytes twice, senders
// past the reply cap, unknown senders who get a reply, the caseload
// filling up, and received times an hour or more apart (the cap's window).
func chunkStream(n int) ([][]byte, []time.Duration) {
	rnd := rand.New(rand.NewPCG(7, 11))
	senders := []string{"Maria Lopez <maria.lopez@northside-housing.example>", "Ana <ana@northside-housing.example>",
		"James <james@westside-workforce.example>", "Nobody <someone@unknown.example>"}
	first := []string{"Dana", "Luis", "Terrence", "Aisha", "Mei", "Olga"}
	last := []string{"Whitfield", "Ortega", "Hall", "Karimi", "Chen", "Petrova", "Haddad", "Okafor", "Novak", "Baptiste"}
	var msgs [][]byte
	var at []time.Duration
	for i := 0; len(msgs) < n; i++ {
		from := senders[rnd.IntN(len(senders))]
		offset := time.Duration(rnd.IntN(150)) * time.Minute
		var body strings.Builder
		c := rnd.IntN(40) // a small pool of clients: many come back
		fmt.Fprintf(&body, "Client name: %s %s\n", first[c%6], last[c%10])
		switch rnd.IntN(4) {
		case 0:
			fmt.Fprintf(&body, "Phone: 555-010-%04d\n", c)
		case 1:
			fmt.Fprintf(&body, "Email: client%d@example.org\n", c)
		case 2:
			fmt.Fprintf(&body, "Phone: 555-010-%04d\nEmail: client%d@example.org\n", rnd.IntN(12), c)
		}
		fmt.Fprintf(&body, "Date of birth: 1980-01-%02d\n", 1+c%28)
		if rnd.IntN(5) > 0 {
			body.WriteString("Consent: yes\n")
		}
		switch rnd.IntN(8) {
		case 0:
			body.WriteString("Needs: facing eviction next week\n")
		case 1:
			body.WriteString("ZIP: 60999\n")
		}
		subject := fmt.Sprintf("Referral %d", i)
		var headers []string
		switch k := rnd.IntN(10); {
		case k == 0 && i > 5:
			// A follow-up naming an earlier referral, maybe with a new
			// phone or the consent it lacked.
			subject = fmt.Sprintf("Re: more [R-%d]", 1001+rnd.IntN(i/2+1))
			body.Reset()
			fmt.Fprintf(&body, "Phone: 555-010-%04d\nConsent: yes\n", rnd.IntN(12))
		case k == 1 && len(msgs) > 0:
			// The same bytes again.
			j := rnd.IntN(len(msgs))
			msgs = append(msgs, msgs[j])
			at = append(at, at[j])
			continue
		case k == 2:
			headers = append(headers, "Auto-Submitted: auto-replied")
		}
		raw := fmt.Appendf(nil, "From: %s\r\nTo: referrals@eastside.example\r\nSubject: %s\r\nDate: Mon, 23 Nov 2026 10:00:00 -0600\r\nMessage-ID: <chunk-%d@test.example>\r\n",
			from, subject, i)
		for _, h := range headers {
			raw = append(raw, h+"\r\n"...)
		}
		raw = append(raw, "Content-Type: text/plain; charset=utf-8\r\n\r\n"...)
		raw = append(raw, strings.ReplaceAll(body.String(), "\n", "\r\n")...)
		msgs = append(msgs, raw)
		at = append(at, offset)
	}
	return msgs, at
}

// dumpStore is every row intake writes, without what differs from run to
// run (generated Message-IDs).
func dumpStore(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT id, sha256, disposition, reason, partner_id FROM messages ORDER BY id`,
		`SELECT id, message_id, decision, status, rule_id, service_id, reason, missing, client_phone, client_email, name_key,
		        date_of_birth, fields, notes, created_at, updated_at, coalesce(closed_at, '') FROM referrals ORDER BY id`,
		`SELECT id, referral_id, at, kind, from_status, to_status, note, coalesce(message_id, 0) FROM events ORDER BY id`,
		`SELECT id, kind, coalesce(inbound_id, 0), coalesce(referral_id, 0), to_addr, subject, data, status, last_error, created_at FROM outbox ORDER BY id`,
	} {
		rows, err := st.DB().Queryx(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.SliceScan()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(vals...))
		}
		rows.Close()
	}
	return out
}

// TestChunkAnswersAsTheDatabase takes the same stream of mail in the same
// transactions twice: once with every lookup a query of its own (as
// intake did message by message), once through ProcessAll, whose chunk
// answers from what it loaded up front. Everything must come out the same:
// each message's outcome and every row written.
func TestChunkAnswersAsTheDatabase(t *testing.T) {
	msgs, offsets := chunkStream(400)
	for _, size := range []int{1, 7, 60, 400} {
		t.Run(fmt.Sprint("chunks of ", size), func(t *testing.T) {
			base := time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)
			run := func(batched bool) ([]Processed, []string) {
				cfg := testConfig(t, "127.0.0.1:1")
				cfg.Program.Capacity = 12
				cfg.Intake.UnknownSenders = "reply"
				cfg.Intake.RepliesPerSenderPerHour = 30
				st := openStore(t, cfg)
				p := NewProcessor(cfg)
				var got []Processed
				for k := 0; k < len(msgs); k += size {
					// The store's clock moves on between chunks: the
					// replies of earlier chunks fall inside or outside
					// later messages' cap windows.
					now := base.Add(time.Duration(k) * time.Minute / 4)
					st.Now = func() time.Time { return now }
					ins := make([]Inbound, 0, size)
					for i := k; i < min(k+size, len(msgs)); i++ {
						ins = append(ins, Inbound{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1), Raw: msgs[i],
							Size: int64(len(msgs[i])), Received: base.Add(offsets[i])})
					}
					err := st.InTx(context.Background(), func(tx *store.Tx) error {
						if batched {
							res, err := p.ProcessAll(tx, ins)
							got = append(got, res...)
							return err
						}
						c := newChunk(tx) // nothing loaded: every question is a query
						for _, in := range ins {
							p.Prepare(&in)
							res, err := p.process(c, in)
							if err != nil {
								return err
							}
							got = append(got, res)
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				return got, dumpStore(t, st)
			}
			wantRes, wantRows := run(false)
			gotRes, gotRows := run(true)
			kinds := map[string]int{}
			for i := range wantRes {
				kinds[wantRes[i].Disposition+"/"+strings.Join(wantRes[i].Decisions, ",")+"/"+firstWord(wantRes[i].Reason)]++
				if !reflect.DeepEqual(wantRes[i], gotRes[i]) {
					t.Errorf("message %d:\n per query: %+v\n chunk:     %+v", i, wantRes[i], gotRes[i])
				}
			}
			if len(wantRows) != len(gotRows) {
				t.Fatalf("%d rows per query, %d with the chunk", len(wantRows), len(gotRows))
			}
			for i := range wantRows {
				if wantRows[i] != gotRows[i] {
					t.Errorf("row %d:\n per query: %s\n chunk:     %s", i, wantRows[i], gotRows[i])
				}
			}
			// The stream must really exercise what the chunk answers.
			for _, k := range []string{"referral/duplicate/", "held//reply", "follow-up/", "ignored//copy", "referral/waitlisted/"} {
				n := 0
				for kind, c := range kinds {
					if strings.HasPrefix(kind, k) {
						n += c
					}
				}
				if n == 0 {
					t.Errorf("the stream has no %q: %v", k, kinds)
				}
			}
		})
	}
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

// TestChunkSeesItsOwnWrites checks, within one transaction, the cases a
// chunk must get right from its own writes: a client referred twice, the
// same bytes twice, and a sender reaching the cap.
func TestChunkSeesItsOwnWrites(t *testing.T) {
	cfg := testConfig(t, "127.0.0.1:1")
	cfg.Intake.RepliesPerSenderPerHour = 4
	st := openStore(t, cfg)
	p := NewProcessor(cfg)
	a := referral(maria, "One", "Client name: Dana Whitfield\nPhone: 555-014-2000\nConsent: yes\n")
	raws := [][]byte{
		a,
		referral(maria, "Two", "Client name: Dana W.\nPhone: 555-014-2000\nConsent: yes\n"),                                      // same phone
		referral(maria, "Three", "Client name: Luis Ortega\nEmail: luis@example.org\nDate of birth: 1970-02-03\nConsent: yes\n"), // new
		a, // the same bytes
		referral(maria, "Four", "Client name: Luis Ortega\nPhone: 555-000-1111\nDate of birth: 1970-02-03\nConsent: yes\n"), // same name and DOB
		referral(maria, "Five", "Client name: Mei Chen\nPhone: 555-000-2222\nConsent: yes\n"),                               // past the cap
	}
	var ins []Inbound
	for i, raw := range raws {
		ins = append(ins, Inbound{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1), Raw: raw, Size: int64(len(raw)), Received: time.Now()})
	}
	var got []Processed
	err := st.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		got, err = p.ProcessAll(tx, ins)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"referral accepted", "referral duplicate", "referral accepted", "ignored ", "referral duplicate", "held "}
	for i, w := range want {
		if g := got[i].Disposition + " " + strings.Join(got[i].Decisions, ","); g != w {
			t.Errorf("message %d: %s (%s), want %s", i+1, g, got[i].Reason, w)
		}
	}
	if !strings.HasPrefix(got[5].Reason, "reply cap") || !strings.Contains(got[3].Reason, "copy of M-1") {
		t.Errorf("reasons: %q, %q", got[3].Reason, got[5].Reason)
	}
}

// TestChunkCountsItsCaseload fills the program's capacity within one
// transaction: the chunk counts the referrals it accepted itself.
func TestChunkCountsItsCaseload(t *testing.T) {
	cfg := testConfig(t, "127.0.0.1:1")
	cfg.Program.Capacity = 2
	st := openStore(t, cfg)
	p := NewProcessor(cfg)
	var ins []Inbound
	for i, name := range []string{"Dana Whitfield", "Luis Ortega", "Mei Chen"} {
		raw := referral(maria, "Referral", fmt.Sprintf("Client name: %s\nPhone: 555-000-%04d\nConsent: yes\n", name, i))
		ins = append(ins, Inbound{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1), Raw: raw, Size: int64(len(raw)), Received: time.Now()})
	}
	var got []Processed
	err := st.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		got, err = p.ProcessAll(tx, ins)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{Accepted, Accepted, Waitlisted} {
		if d := strings.Join(got[i].Decisions, ","); d != want {
			t.Errorf("referral %d: %s, want %s", i+1, d, want)
		}
	}
}
