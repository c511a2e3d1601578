package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"refdesk/configs"
	"refdesk/store"
)

// app holds what every command shares: global flags and lazily loaded
// pieces. Nothing here is global state; main builds one per run.
type app struct {
	configPath string
	by         string
	jsonOut    bool
	out        io.Writer
	errOut     io.Writer
}

// newRoot builds the command tree writing to out and errOut.
func newRoot(out, errOut io.Writer) *cobra.Command {
	a := &app{out: out, errOut: errOut}
	root := &cobra.Command{
		Use:   "refdesk",
		Short: "Closed-loop referral intake from a shared mailbox",
		Long: `refdesk reads a shared referrals mailbox over IMAP, turns each referral into a
record, answers the caseworker at once (accepted, better fit elsewhere, or what
is missing), lets coaches update records from this CLI, and reports back to
partners.

Start with:  refdesk demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "config file (default $REFDESK_CONFIG, else ./refdesk.toml)")
	root.PersistentFlags().StringVar(&a.by, "by", "", "who makes a change (default $REFDESK_USER, else the OS user)")
	root.AddCommand(
		a.serveCmd(), a.demoCmd(), a.checkCmd(), a.parseCmd(),
		a.listCmd(), a.showCmd(), a.updateCmd(), a.noteCmd(), a.outcomeCmd(),
		a.heldCmd(), a.releaseCmd(), a.discardCmd(), a.outboxCmd(), a.retryCmd(), a.purgeCmd(),
		a.fieldsCmd(), a.templateCmd(),
		a.reportCmd(), a.statsCmd(), a.exportCmd(),
	)
	return root
}

// addJSON adds --json to a command.
func (a *app) addJSON(c *cobra.Command) *cobra.Command {
	c.Flags().BoolVar(&a.jsonOut, "json", false, "print JSON instead of a table")
	return c
}

// path returns the config file to use: --config, $REFDESK_CONFIG, ./refdesk.toml.
func (a *app) path() string {
	if a.configPath != "" {
		return a.configPath
	}
	if p := os.Getenv("REFDESK_CONFIG"); p != "" {
		return p
	}
	return "refdesk.toml"
}

// config loads and validates the config; problems make one line.
func (a *app) config() (*configs.Config, error) {
	cfg, err := configs.Load(a.path())
	if err != nil {
		lines := strings.Split(err.Error(), "\n")
		if len(lines) > 1 {
			return nil, fmt.Errorf("%s (and %d more problems; run `refdesk check`)", lines[0], len(lines)-1)
		}
		return nil, err
	}
	return cfg, nil
}

// open loads the config and opens the database.
func (a *app) open(ctx context.Context) (*configs.Config, *store.Store, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	st, err := store.OpenWith(ctx, cfg.Database.Path, store.Options{BusyTimeout: cfg.Database.BusyTimeout.Duration})
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// who is the person making a change: --by, $REFDESK_USER, the OS user.
func (a *app) who() string {
	if a.by != "" {
		return a.by
	}
	if u := os.Getenv("REFDESK_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints aligned columns.
func (a *app) table(header []string, rows [][]string) error {
	return a.tableIndent("", header, rows)
}

// tableIndent prints aligned columns, each line indented.
func (a *app) tableIndent(indent string, header []string, rows [][]string) error {
	w := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, indent+strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			r[i] = oneLine(r[i])
		}
		fmt.Fprintln(w, indent+strings.Join(r, "\t"))
	}
	return w.Flush()
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func logger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// notFound rewords store.ErrNotFound for people.
func notFound(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no %s", what)
	}
	return err
}
