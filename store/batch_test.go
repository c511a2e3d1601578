package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBatchLookups checks the chunk lookups against the per-message ones
// they stand for.
func TestBatchLookups(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	a := addReferral(t, s, 1, StatusAccepted, func(r *Referral) { r.DateOfBirth = "1980-02-03"; r.ClientEmail = "dana@example.org" })
	addReferral(t, s, 2, StatusCompleted, func(r *Referral) { r.ClientPhone = "5550199"; r.NameKey = "luis ortega" })
	// Every kind of outbox message to one address, an hour apart from the
	// next address's.
	kinds := append(slices.Clone(CapKinds), "monthly-report", "coach-digest")
	err := s.InTx(ctx, func(tx *Tx) error {
		for i, k := range kinds {
			for _, to := range []string{"a@x", "b@x"} {
				if _, err := tx.Enqueue(&OutMsg{Kind: k, MessageID: fmt.Sprintf("%s-%d@x", to, i), To: to}); err != nil {
					return err
				}
			}
			now = now.Add(time.Minute)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.InTx(ctx, func(tx *Tx) error {
		byHash, err := tx.MessagesBySHA([]string{"sumb", "sumc", "nothing"})
		if err != nil {
			return err
		}
		if len(byHash) != 2 || byHash["sumb"].ID != a.MessageID || byHash["sumb"].Disposition != DispReferral {
			t.Errorf("MessagesBySHA: %v", byHash)
		}
		open, err := tx.OpenClients([]string{"5550142", "5550199", ""}, []string{"dana@example.org"},
			[]NameDOB{{"luis ortega", ""}, {"dana whitfield", "1980-02-03"}, {"dana whitfield", "1980-02-04"}, {"", ""}})
		if err != nil {
			return err
		}
		if len(open) != 1 || open[0] != a.Keys() {
			t.Errorf("OpenClients: %+v, want only %+v", open, a.Keys())
		}
		since := now.Add(-5 * time.Minute)
		counts, err := tx.ReplyCounts([]string{"a@x", "b@x", "c@x"}, since)
		if err != nil {
			return err
		}
		times, err := tx.ReplyTimes([]string{"a@x"}, since.Add(-3*time.Minute), since)
		if err != nil {
			return err
		}
		for _, addr := range []string{"a@x", "c@x"} {
			n, err := tx.RepliesSince(addr, since, 100)
			if err != nil {
				return err
			}
			if counts[addr] != n {
				t.Errorf("ReplyCounts[%s] = %d, RepliesSince = %d", addr, counts[addr], n)
			}
		}
		before, err := tx.RepliesSince("a@x", since.Add(-3*time.Minute), 100)
		if err != nil {
			return err
		}
		if counts["a@x"]+len(times) != before || len(times) == 0 {
			t.Errorf("%d counted since, %d between, %d in all", counts["a@x"], len(times), before)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		if CountsForCap(k) != (k != "monthly-report" && k != "coach-digest") {
			t.Errorf("CountsForCap(%s) = %v", k, CountsForCap(k))
		}
	}
}

// TestCancelledTransactionKeepsNothing: the writes run without their
// context's cancellation, but a cancelled context still ends the
// transaction, and nothing of it is kept.
func TestCancelledTransactionKeepsNothing(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := s.InTx(ctx, func(tx *Tx) error {
		m := &Message{Mailbox: "INBOX", UIDValidity: 7, UID: 1, SHA256: "a", ReceivedAt: s.Now(), ProcessedAt: s.Now(), Disposition: DispIgnored}
		if err := tx.InsertMessage(m); err != nil {
			return err
		}
		cancel()
		// database/sql rolls the transaction back once it sees the
		// cancellation; the next write fails.
		for i := uint32(2); i < 1000; i++ {
			m := &Message{Mailbox: "INBOX", UIDValidity: 7, UID: i, SHA256: "b", ReceivedAt: s.Now(), ProcessedAt: s.Now(), Disposition: DispIgnored}
			if err := tx.InsertMessage(m); err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	if err == nil {
		t.Fatal("a transaction whose context was cancelled committed")
	}
	var n int
	if err := s.DB().Get(&n, "SELECT count(*) FROM messages"); err != nil || n != 0 {
		t.Fatalf("%d messages kept (%v)", n, err)
	}
}

// FuzzJSONValues holds Map's and List's JSON to encoding/json's.
func FuzzJSONValues(f *testing.F) {
	for _, s := range []string{"", "a", "Dana Whitfield", "a\"b", "<x>&", "é", "\xff", "\u2028", "tab\there", "\x7f", "back\\slash"} {
		f.Add(s, "k")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		m := Map{a: b, b: a, "z" + a: ""}
		got, _ := m.Value()
		want, _ := json.Marshal(map[string]string(m))
		if got != string(want) {
			t.Errorf("Map %q: %s, encoding/json %s", m, got, want)
		}
		l := List{a, b, ""}
		got, _ = l.Value()
		want, _ = json.Marshal([]string(l))
		if got != string(want) {
			t.Errorf("List %q: %s, encoding/json %s", l, got, want)
		}
	})
}

// FuzzJSONListRoundTrip: json_each gives back exactly the strings jsonList
// was given, invalid UTF-8, quotes and control bytes included, so a key
// equals a stored column just when the value does.
func FuzzJSONListRoundTrip(f *testing.F) {
	s := openTest(f)
	for _, v := range []string{"", "a@x", "Dana \"Dee\" Whitfield", "back\\slash", "\xff\xfe", "é", "\u2028", "nul\x00byte", "tab\t\n", "\x7f", "[1]", "\\u0041"} {
		f.Add(v, "k")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, vals := range [][]string{{a}, {a, b, ""}} {
			var got []string
			if err := s.DB().Select(&got, "SELECT CAST(value AS BLOB) FROM json_each(?) ORDER BY key", jsonList(vals)); err != nil {
				t.Fatalf("jsonList(%q) = %s: %v", vals, jsonList(vals), err)
			}
			if !slices.Equal(got, vals) {
				t.Fatalf("json_each(jsonList(%q)) = %q", vals, got)
			}
		}
		var pair []string
		if err := s.DB().Select(&pair, "SELECT CAST(value ->> 0 AS BLOB) FROM json_each(?) UNION ALL SELECT CAST(value ->> 1 AS BLOB) FROM json_each(?)",
			jsonPairs([][]string{{a, b}}), jsonPairs([][]string{{a, b}})); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(pair, []string{a, b}) {
			t.Fatalf("jsonPairs(%q, %q) read back as %q", a, b, pair)
		}
	})
}

// The chunk lookups find their rows through the indexes, not by reading
// every referral or every reply.
func TestBatchLookupsUseIndexes(t *testing.T) {
	s := openTest(t)
	qs, err := loadQueries()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		"messages_by_sha":       {"INDEX messages_sha256"},
		"open_clients_by_phone": {"INDEX referrals_phone"},
		"open_clients_by_email": {"INDEX referrals_email"},
		"open_clients_by_name":  {"INDEX referrals_name_dob"},
		"reply_counts":          {"INDEX outbox_to"},
		"reply_times":           {"INDEX outbox_to"},
		"seen_uids":             {"INDEX sqlite_autoindex_messages_1"},
		"set_moved":             {"USING INTEGER PRIMARY KEY"},
		"events_of":             {"INDEX events_referral"},
	} {
		rows, err := s.DB().Query("EXPLAIN QUERY PLAN "+qs[name], "[]", time.Now(), time.Now())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var details []string
		for rows.Next() {
			var id, parent, notUsed int
			var detail string
			if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
				t.Fatal(err)
			}
			details = append(details, detail)
		}
		rows.Close()
		all := strings.Join(details, "; ")
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: plan %q does not use %s", name, all, w)
			}
		}
		if strings.Contains(all, "SCAN r") || strings.Contains(all, "SCAN outbox") || strings.Contains(all, "SCAN messages") {
			t.Errorf("%s: plan %q reads a whole table", name, all)
		}
	}
}
