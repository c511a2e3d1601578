// Command refdesk turns a shared referrals mailbox into a closed-loop
// referral system. This package only parses flags and wires the pieces
// (configs, store, ingest, notify) together; the work is done in them.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	root := newRoot(os.Stdout, os.Stderr)
	if err := root.Execute(); err != nil {
		// One line: the reason. Multi-line config problems are printed by
		// the command itself before it returns.
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		fmt.Fprintln(os.Stderr, "refdesk: "+msg)
		os.Exit(1)
	}
}
