package store

import (
	"bufio"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"
)

// driverName is the SQLite driver with refdesk's per-connection settings.
const driverName = "sqlite3_refdesk"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		// A bigger page cache than SQLite's 2 MB and memory-mapped reads:
		// intake looks up hashes, phones and addresses in indexes that
		// would otherwise be read back with a system call per page.
		// secure_delete: what an update replaces or a purge deletes is
		// overwritten, not left in free space in the file.
		_, err := c.Exec("PRAGMA cache_size = -16384; PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY; PRAGMA secure_delete = ON", nil)
		return err
	}})
}

//go:embed migrations/*.sql
var migrationFS embed.FS

//go:embed queries.sql
var queriesSQL string

// Sentinel errors; match them with errors.Is.
var (
	ErrNotFound   = errors.New("not found")
	ErrTransition = errors.New("transition not allowed")
	ErrTooNew     = errors.New("database is newer than this refdesk")
)

// Store is an open refdesk database.
type Store struct {
	path  string
	db    *sqlx.DB
	stmts map[string]*sqlx.Stmt
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Options tune how the database is opened.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection or process before failing with "database is locked"
	// (default 10s).
	BusyTimeout time.Duration
}

// Open opens (creating it 0600 if needed) and migrates the SQLite database at
// path. It refuses a database written by a newer refdesk. Every query is
// prepared here, so a broken query stops start-up, not a request.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, opt Options) (*Store, error) {
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	busy := opt.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	// WAL for concurrent readers; a busy timeout instead of SQLITE_BUSY;
	// IMMEDIATE write transactions so two writers queue instead of deadlock.
	dsn := "file:" + path + "?_journal_mode=WAL&_busy_timeout=" + strconv.FormatInt(busy.Milliseconds(), 10) +
		"&_foreign_keys=on&_txlock=immediate&_synchronous=NORMAL"
	db, err := sqlx.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{path: path, db: db, Now: time.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		// SQLite gives these the main file's mode; make sure of it.
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if err := s.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// createPrivate creates the database file with mode 0600 if it does not
// exist, so SQLite never creates it with the process umask.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	return f.Close()
}

// Close closes the database.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		st.Close()
	}
	return s.db.Close()
}

// DB exposes the handle for tests and benchmarks in other packages.
func (s *Store) DB() *sqlx.DB { return s.db }

// migrations returns the embedded migrations by number: 0001_init.sql is 1.
func migrations() (map[int]string, int, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, 0, err
	}
	out := map[int]string{}
	latest := 0
	for _, e := range entries {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, 0, fmt.Errorf("store: migration %s: name must start with a number", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, 0, err
		}
		out[n] = string(b)
		latest = max(latest, n)
	}
	return out, latest, nil
}

// migrate brings the schema to the latest version, one transaction per
// migration, recording the version in PRAGMA user_version.
func (s *Store) migrate(ctx context.Context) error {
	all, latest, err := migrations()
	if err != nil {
		return err
	}
	var version int
	if err := s.db.GetContext(ctx, &version, "PRAGMA user_version"); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if version > latest {
		return fmt.Errorf("store: schema version %d, this refdesk knows %d: %w", version, latest, ErrTooNew)
	}
	for v := version + 1; v <= latest; v++ {
		sql, ok := all[v]
		if !ok {
			return fmt.Errorf("store: migration %d is missing", v)
		}
		tx, err := s.db.BeginTxx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migrate to %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate to %d: %w", v, err)
		}
		// PRAGMA takes no bound parameters; v is an int we produced.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate to %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migrate to %d: %w", v, err)
		}
	}
	return nil
}

// SchemaVersion returns the database's schema version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.GetContext(ctx, &v, "PRAGMA user_version")
	return v, err
}

// parseQueries splits queries.sql into named queries: each starts with a
// line "-- name: x" and runs to the next such line.
func parseQueries(src string) (map[string]string, error) {
	out := map[string]string{}
	var name string
	var b strings.Builder
	flush := func() error {
		if name == "" {
			return nil
		}
		if _, dup := out[name]; dup {
			return fmt.Errorf("store: query %q defined twice", name)
		}
		out[name] = strings.TrimSpace(b.String())
		b.Reset()
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(src))
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "-- name:"); ok {
			if err := flush(); err != nil {
				return nil, err
			}
			name = strings.TrimSpace(n)
			continue
		}
		if name != "" && !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) prepare(ctx context.Context) error {
	qs, err := parseQueries(queriesSQL)
	if err != nil {
		return err
	}
	s.stmts = make(map[string]*sqlx.Stmt, len(qs))
	names := make([]string, 0, len(qs))
	for n := range qs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st, err := s.db.PreparexContext(ctx, qs[n])
		if err != nil {
			return fmt.Errorf("store: prepare %s: %w", n, err)
		}
		s.stmts[n] = st
	}
	return nil
}

// q returns the prepared statement name; a missing name is a programming
// error caught by the tests that call every query.
func (s *Store) q(name string) *sqlx.Stmt {
	st, ok := s.stmts[name]
	if !ok {
		panic("store: no query named " + name)
	}
	return st
}
