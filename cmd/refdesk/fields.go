package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"refdesk/configs"
	"refdesk/notify"
	"refdesk/parse"
)

// fieldJSON is one canonical field in `refdesk fields --json`.
type fieldJSON struct {
	Name     string   `json:"name"`
	Label    string   `json:"label"`
	Required bool     `json:"required"`
	Help     string   `json:"help"`
	Example  string   `json:"example"`
	Labels   []string `json:"labels"`
}

// optionalConfig loads the config when there is one: these commands also
// serve a caseworker's question on a machine with no refdesk.toml. It
// returns nil and no error when none was named and the default is absent.
func (a *app) optionalConfig() (*configs.Config, error) {
	if a.configPath == "" && os.Getenv("REFDESK_CONFIG") == "" {
		if _, err := os.Stat(a.path()); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	return a.config()
}

func (a *app) fieldsCmd() *cobra.Command {
	return a.addJSON(&cobra.Command{
		Use:   "fields",
		Short: "List every referral field with the labels refdesk accepts for it",
		Long: `List every canonical referral field with the labels refdesk accepts for it,
in email bodies, spreadsheet headers, PDF and Word forms and JSON keys alike
(any case, punctuation ignored). Labels from the config's [fields.aliases]
are included. With "how to write us a referral", hand this and
` + "`refdesk template`" + ` to partners.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.optionalConfig()
			if err != nil {
				return err
			}
			required := configs.DefaultRequired
			var extra map[string][]string
			if cfg != nil {
				required, extra = cfg.Intake.Required, cfg.Fields.Aliases
			}
			out := make([]fieldJSON, 0, len(parse.Fields))
			for _, f := range parse.Fields {
				labels := append(append([]string(nil), f.Labels...), extra[f.Name]...)
				req := false
				for _, r := range required {
					req = req || r == f.Name || r == "contact" && (f.Name == "client_phone" || f.Name == "client_email")
				}
				out = append(out, fieldJSON{Name: f.Name, Label: f.Label, Required: req, Help: f.Help, Example: f.Example, Labels: labels})
			}
			if a.jsonOut {
				return a.printJSON(out)
			}
			w := a.out
			fmt.Fprintln(w, "Referral fields and the labels refdesk reads for them (any case; punctuation,")
			fmt.Fprintln(w, "bullets and bold are ignored). Unknown labels are kept as extra fields.")
			for _, f := range out {
				req := ""
				if f.Required {
					req = "  [required]"
					if f.Name == "client_phone" || f.Name == "client_email" {
						req = "  [phone or email required]"
					}
				}
				fmt.Fprintf(w, "\n%s (%s)%s\n  %s; e.g. %q\n", f.Label, f.Name, req, f.Help, f.Example)
				fmt.Fprintf(w, "  labels: %s\n", wrap(strings.Join(f.Labels, ", "), 70, "          "))
			}
			fmt.Fprintln(w, "\nAttachments use the same labels: CSV and XLSX header rows (one referral per row),")
			fmt.Fprintln(w, "fillable PDF field names, Word tables and \"Label: value\" lines, JSON keys, vCards.")
			return nil
		},
	})
}

func (a *app) templateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "template",
		Short: "Print the referral template caseworkers copy into an email",
		Long: `Print the referral template caseworkers copy into an email: every field as
"Label: ", the required ones first. It is the same template refdesk puts in
its "we need more information" replies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.optionalConfig()
			if err != nil {
				return err
			}
			required := configs.DefaultRequired
			if cfg != nil {
				required = cfg.Intake.Required
			}
			_, err = fmt.Fprint(a.out, notify.BlankForm(required))
			return err
		},
	}
}

// wrap breaks s into lines of about width, continuing with indent.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		if i > 0 && n+len(w)+1 > width {
			b.WriteString("\n" + indent)
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
