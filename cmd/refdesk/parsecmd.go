package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"refdesk/configs"
	"refdesk/ingest"
)

func (a *app) parseCmd() *cobra.Command {
	return a.addJSON(&cobra.Command{
		Use:   "parse FILE.eml",
		Short: "Dry run: show the fields, problems, decision and rule for one message (no database, no mail)",
		Long: `Dry run: show what refdesk would do with one message: the fields it reads,
the problems it meets, the decision and the rule that fired. It touches no
database and sends no mail, so it cannot detect follow-ups or duplicates.
Use - to read the message from standard input. With no config named and no
./refdesk.toml, it decides with the demo's config (configs/demo.toml) and
says so on standard error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.optionalConfig()
			if err != nil {
				return err
			}
			if cfg == nil {
				if cfg, err = configs.Demo(); err != nil {
					return err
				}
				fmt.Fprintln(a.errOut, "refdesk: no refdesk.toml here: deciding with the demo's config (configs/demo.toml); name yours with --config")
			}
			var raw []byte
			if args[0] == "-" {
				raw, err = io.ReadAll(io.LimitReader(os.Stdin, int64(cfg.Intake.MaxMessageSize)+1))
			} else {
				raw, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			res, err := ingest.NewProcessor(cfg).DryRun(raw, time.Now())
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(res)
			}
			a.printDryRun(res)
			return nil
		},
	})
}

func (a *app) printDryRun(r *ingest.DryRun) {
	w := a.out
	fmt.Fprintf(w, "disposition: %s\n", r.Disposition)
	if r.Reason != "" {
		fmt.Fprintf(w, "reason:      %s\n", r.Reason)
	}
	if r.From != "" {
		partner := r.Partner
		if partner == "" {
			partner = "not a partner"
		}
		fmt.Fprintf(w, "from:        %s (%s)\n", r.From, partner)
	}
	switch {
	case r.NoReply != "":
		fmt.Fprintf(w, "reply:       none: %s\n", r.NoReply)
	case r.Reply != "":
		fmt.Fprintf(w, "reply:       %s\n", r.Reply)
	default:
		fmt.Fprintf(w, "reply:       none\n")
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem:     %s\n", p)
	}
	for _, at := range r.Attachments {
		what := fmt.Sprintf("%d referral(s)", at.Candidates)
		if at.Problem != "" {
			what = "not readable: " + at.Problem
		}
		fmt.Fprintf(w, "attachment:  %s (%s, %d bytes): %s\n", at.Filename, at.ContentType, at.Size, what)
	}
	for i, ref := range r.Referrals {
		fmt.Fprintf(w, "\nreferral %d (%s): %s\n", i+1, ref.Source, ref.Decision)
		if ref.Rule != "" {
			fmt.Fprintf(w, "  rule:      %s\n", ref.Rule)
		}
		if ref.Service != "" {
			fmt.Fprintf(w, "  service:   %s\n", ref.Service)
		}
		if len(ref.Missing) > 0 {
			fmt.Fprintf(w, "  missing:   %s\n", strings.Join(ref.Missing, ", "))
		}
		if ref.Reason != "" {
			fmt.Fprintf(w, "  why:       %s\n", ref.Reason)
		}
		printMap(w, "  ", ref.Fields)
		if len(ref.Extra) > 0 {
			fmt.Fprintln(w, "  other labels:")
			printMap(w, "    ", ref.Extra)
		}
		for _, n := range ref.Notes {
			fmt.Fprintf(w, "  note:      %s\n", n)
		}
	}
}

func printMap(w io.Writer, indent string, m map[string]string) {
	keys := make([]string, 0, len(m))
	width := 0
	for k := range m {
		keys = append(keys, k)
		width = max(width, len(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s%-*s  %s\n", indent, width+1, k+":", oneLine(m[k]))
	}
}
