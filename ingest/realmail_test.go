package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"refdesk/configs"
	"refdesk/store"
)

// TestRealmailTriage runs the real-world corpus (../shared/realmail: mail
// from other projects' fixtures, see its README; not part of this
// repository, so the test skips without it) through the whole intake:
// parse, triage and store in a real database, and the dry run. Auto-replies,
// bounces and list mail must end ignored (at least 95% of each); no
// person's message may end ignored, even from a partner; nothing may crash
// or hang, the malformed messages included.
func TestRealmailTriage(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "realmail")
	if d := os.Getenv("REFDESK_REALMAIL"); d != "" {
		dir = d
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no real mail corpus at %s", dir)
	}
	in := newIntake(t, func(c *configs.Config) { c.Intake.MaxMessageSize = 25 << 20 }) // the default
	partner := &in.cfg.Partners[0]
	type tally struct{ n, ignored, referral, held, quarantined, other int }
	totals := map[string]*tally{}
	asPartner := map[string]int{} // "human referral" -> count, when sent by a partner
	categories := []string{"autoreply", "bounce", "list", "human", "malformed"}
	for _, cat := range categories {
		files, _ := filepath.Glob(filepath.Join(dir, cat, "*.eml"))
		sort.Strings(files)
		tl := &tally{}
		totals[cat] = tl
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := cat + "/" + filepath.Base(f)
			start := time.Now()
			p := in.take(raw) // parse, triage, store: fails the test on a database error
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("%s: intake took %v", name, d)
			}
			dry, err := in.proc.DryRun(raw, time.Now())
			if err != nil {
				t.Errorf("%s: dry run: %v", name, err)
				continue
			}
			if dry.Disposition != p.Disposition && !(p.Disposition == store.DispIgnored && p.Reason != "" && dry.Disposition != store.DispIgnored && isCopy(p.Reason)) {
				t.Errorf("%s: intake says %s (%s), the dry run %s (%s)", name, p.Disposition, p.Reason, dry.Disposition, dry.Reason)
			}
			tl.n++
			switch p.Disposition {
			case store.DispIgnored:
				tl.ignored++
				if cat == "malformed" || cat == "human" {
					t.Logf("%s: ignored: %s", name, p.Reason)
				}
			case store.DispReferral:
				tl.referral++
			case store.DispHeld:
				tl.held++
			case store.DispQuarantined:
				tl.quarantined++
				if p.Reason == "" {
					t.Errorf("%s: quarantined without a reason", name)
				}
			default:
				tl.other++
			}
			if cat == "human" || cat == "malformed" {
				// From a partner, person-to-person mail goes as far as triage
				// takes it, and is never ignored.
				msg, err := safeParse(bytes.NewReader(raw), in.proc.opt, time.Minute)
				if err != nil {
					if cat == "human" {
						t.Errorf("%s: %v", name, err)
					}
					continue
				}
				out, err := in.proc.Triager().Triage(msg, NoLookups{}, time.Now(), Options{Partner: partner, SkipAuth: true, SkipCap: true})
				if err != nil {
					t.Fatal(err)
				}
				asPartner[cat+" "+out.Disposition]++
				if cat == "human" && out.Disposition == store.DispIgnored {
					t.Errorf("%s: a person's message from a partner is ignored: %s", name, out.Reason)
				}
			}
			if cat == "human" && p.Disposition == store.DispIgnored {
				t.Errorf("%s: a person's message is ignored: %s", name, p.Reason)
			}
		}
	}
	for _, cat := range categories {
		tl := totals[cat]
		if tl.n == 0 {
			continue
		}
		t.Logf("%-9s %3d messages: %3d ignored (%.1f%%), %3d referral, %3d held, %3d quarantined", cat, tl.n, tl.ignored,
			100*float64(tl.ignored)/float64(tl.n), tl.referral, tl.held, tl.quarantined)
		if cat == "human" || cat == "malformed" {
			t.Logf("%-9s from a partner: %d referral (needs-info or better), %d ignored, %d held", cat,
				asPartner[cat+" "+store.DispReferral], asPartner[cat+" "+store.DispIgnored], asPartner[cat+" "+store.DispHeld])
		}
		if (cat == "autoreply" || cat == "bounce" || cat == "list") && 100*tl.ignored < 95*tl.n {
			t.Errorf("%s: only %d of %d ignored, want at least 95%%", cat, tl.ignored, tl.n)
		}
	}
}

// isCopy: intake ignores a byte-identical copy of a message it stored
// before (the corpus has a few); the dry run has no database to know.
func isCopy(reason string) bool { return len(reason) > 8 && reason[:8] == "copy of " }
