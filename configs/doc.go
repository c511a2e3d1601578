// Package configs owns refdesk's configuration: the TOML file's types, Load
// (strict about unknown keys, which are reported with their line) and
// Validate (every problem at once, each with its key and line).
//
// Secrets are never stored in a Config: a *_env or *_file key names where the
// secret lives and Secret reads it when a connection is made. Nothing here
// logs or prints a secret.
//
// refdesk.example.toml documents every key; demo.toml is what `refdesk demo`
// runs on. Both are embedded.
package configs
