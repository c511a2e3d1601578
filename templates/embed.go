// Package templates holds the text and HTML templates of every message
// refdesk sends, embedded in the binary. One file per kind defines
// "<kind>.subject", "<kind>.text" and "<kind>.html"; common.tmpl holds the
// pieces they share. A directory named in the config's [templates] dir
// replaces files by name (package notify does the loading and rendering).
package templates

import "embed"

// FS holds every *.tmpl file.
//
//go:embed *.tmpl
var FS embed.FS
