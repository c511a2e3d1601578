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
	"sync"
	"sync/atomic"
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
		// wal_autocheckpoint: the Store's checkpointer copies the WAL
		// into the database beside the writers (see checkpointer); a
		// writer does it itself only if the WAL grows past 32 MB.
		_, err := c.Exec("PRAGMA cache_size = -16384; PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY; PRAGMA secure_delete = ON; PRAGMA wal_autocheckpoint = 8192", nil)
		return err
	}})
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// Named queries: queries.sql, and queries_*.sql for each area (reports).
//
//go:embed queries*.sql
var queryFS embed.FS

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
	// rdb is a second pool for read transactions (InTxRead): DEFERRED and
	// query_only, so a report, a listing or the scheduler reading a
	// snapshot never takes the write lock that intake and the sender wait
	// for. Its statements are prepared on the first read transaction.
	rdb    *sqlx.DB
	rmu    sync.Mutex
	rstmts map[string]*sqlx.Stmt
	// Now is the clock; tests replace it.
	Now func() time.Time

	ckpt      chan struct{} // a write committed: time to checkpoint
	ckptDone  chan struct{}
	closeOnce sync.Once
	commits   atomic.Int64 // commits so far (see checkpointer)
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
	// _mutex=no: database/sql never uses one connection on two goroutines
	// at once, so SQLite need not lock each connection on every call.
	dsn := "file:" + path + "?_journal_mode=WAL&_busy_timeout=" + strconv.FormatInt(busy.Milliseconds(), 10) +
		"&_foreign_keys=on&_synchronous=NORMAL&_mutex=no"
	db, err := sqlx.Open(driverName, dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// sqlx.Open connects to nothing yet; rdb costs nothing until a read
	// transaction uses it.
	rdb, err := sqlx.Open(driverName, dsn+"&_txlock=deferred&_query_only=1")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{path: path, db: db, rdb: rdb, Now: time.Now}
	if err := s.migrate(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		// SQLite gives these the main file's mode; make sure of it.
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.closeDBs()
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if err := s.prepare(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	s.ckpt, s.ckptDone = make(chan struct{}, 1), make(chan struct{})
	go s.checkpointer()
	return s, nil
}

// checkpointer copies committed pages from the WAL into the database file,
// on a connection of its own. Left to SQLite, the commit that takes the WAL
// past its threshold does it (and waits for its file syncs) while holding
// the write lock; here a PASSIVE checkpoint runs beside the next write
// transaction instead, which it never blocks. It runs after every
// ckptEvery commits, or a second after the last one: pages that every
// commit writes again (the last leaves of the indexes) are copied once for
// several commits.
func (s *Store) checkpointer() {
	defer close(s.ckptDone)
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	done := int64(0) // commits checkpointed
	checkpoint := func() {
		done = s.commits.Load()
		// An error (another checkpoint running, the database busy) only
		// leaves the pages for the next round.
		s.db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	}
	for {
		select {
		case _, ok := <-s.ckpt:
			if !ok {
				idle.Stop()
				return
			}
			if s.commits.Load()-done >= ckptEvery {
				idle.Stop()
				checkpoint()
				continue
			}
			idle.Reset(time.Second)
		case <-idle.C:
			if s.commits.Load() > done {
				checkpoint()
			}
		}
	}
}

// ckptEvery is how many commits the checkpointer lets gather (for intake,
// five chunks of imap.batch_size messages: 2,500 by default).
const ckptEvery = 5

// committed counts a commit and wakes the checkpointer.
func (s *Store) committed() {
	s.commits.Add(1)
	select {
	case s.ckpt <- struct{}{}:
	default:
	}
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
	s.closeOnce.Do(func() {
		if s.ckpt != nil {
			close(s.ckpt)
			<-s.ckptDone
		}
	})
	for _, st := range s.stmts {
		st.Close()
	}
	s.rmu.Lock()
	for _, st := range s.rstmts {
		st.Close()
	}
	s.rmu.Unlock()
	return s.closeDBs()
}

// closeDBs closes both pools.
func (s *Store) closeDBs() error {
	return errors.Join(s.db.Close(), s.rdb.Close())
}

// DB exposes the handle for tests and benchmarks in other packages.
func (s *Store) DB() *sqlx.DB { return s.db }

// migration is one numbered schema change: migrations/0003_outcomes.sql is
// number 3.
type migration struct {
	n    int
	name string
	sql  string
}

// migrations returns the embedded migrations sorted by number. Numbers may
// have gaps (numbers are reserved for work that lands later).
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("store: migration %s: name must start with a number above 0", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{n: n, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	for i := 1; i < len(out); i++ {
		if out[i].n == out[i-1].n {
			return nil, fmt.Errorf("store: migrations %s and %s have the same number", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate brings the schema up to date with the embedded migrations.
func (s *Store) migrate(ctx context.Context) error {
	list, err := migrations()
	if err != nil {
		return err
	}
	return s.migrateWith(ctx, list)
}

// migrateWith applies every migration of list the database has not had, in
// order of number, one transaction each. The numbers applied are recorded in
// schema_migrations and the highest in PRAGMA user_version.
//
// Numbers may have gaps, and a lower number may arrive after a higher one
// was applied (work merged out of order): it is applied then, because what
// counts is the set applied, not only the highest. A database that has a
// migration this binary does not know, or a higher version, is refused
// (ErrTooNew). Databases from before schema_migrations recorded only
// user_version, when numbers were contiguous: every known number up to it
// counts as applied.
func (s *Store) migrateWith(ctx context.Context, list []migration) error {
	known := map[int]bool{}
	latest := 0
	for _, m := range list {
		known[m.n] = true
		latest = max(latest, m.n)
	}
	var version int
	if err := s.db.GetContext(ctx, &version, "PRAGMA user_version"); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if version > latest {
		return fmt.Errorf("store: schema version %d, this refdesk knows %d: %w", version, latest, ErrTooNew)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT      NOT NULL,
		applied_at TIMESTAMP NOT NULL)`); err != nil {
		return fmt.Errorf("store: schema_migrations: %w", err)
	}
	var applied []int
	if err := s.db.SelectContext(ctx, &applied, "SELECT version FROM schema_migrations"); err != nil {
		return fmt.Errorf("store: read schema_migrations: %w", err)
	}
	done := map[int]bool{}
	for _, n := range applied {
		if !known[n] {
			return fmt.Errorf("store: the database has migration %d, which this refdesk does not know: %w", n, ErrTooNew)
		}
		done[n] = true
	}
	// Nothing recorded: a fresh database, or one from before
	// schema_migrations, whose migrations up to user_version were applied.
	legacy := len(applied) == 0
	for _, m := range list {
		if done[m.n] {
			continue
		}
		if err := s.applyMigration(ctx, m, legacy && m.n <= version, max(version, m.n)); err != nil {
			return err
		}
		version = max(version, m.n)
	}
	return nil
}

// applyMigration runs one migration (or, with recordOnly, only records that
// an older refdesk applied it) and sets user_version to version.
func (s *Store) applyMigration(ctx context.Context, m migration, recordOnly bool, version int) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate %s: %w", m.name, err)
	}
	defer tx.Rollback()
	if !recordOnly {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("store: migrate %s: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.n, m.name, s.Now().UTC()); err != nil {
		return fmt.Errorf("store: migrate %s: %w", m.name, err)
	}
	// PRAGMA takes no bound parameters; version is an int we produced.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		return fmt.Errorf("store: migrate %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate %s: %w", m.name, err)
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

// loadQueries reads every named query of every queries*.sql file; a name
// may be defined once only.
func loadQueries() (map[string]string, error) {
	files, err := fs.Glob(queryFS, "queries*.sql")
	if err != nil {
		return nil, err
	}
	all := map[string]string{}
	for _, f := range files {
		b, err := queryFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		qs, err := parseQueries(string(b))
		if err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, f)
		}
		for n, q := range qs {
			if _, dup := all[n]; dup {
				return nil, fmt.Errorf("store: query %q defined twice (in %s)", n, f)
			}
			all[n] = q
		}
	}
	return all, nil
}

func (s *Store) prepare(ctx context.Context) error {
	var err error
	s.stmts, err = prepareAll(ctx, s.db)
	return err
}

// readStatements prepares every query on the read pool, once it succeeds
// (a read cancelled meanwhile leaves it to the next one).
func (s *Store) readStatements(ctx context.Context) (map[string]*sqlx.Stmt, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.rstmts == nil {
		st, err := prepareAll(ctx, s.rdb)
		if err != nil {
			return nil, err
		}
		s.rstmts = st
	}
	return s.rstmts, nil
}

// prepareAll prepares every named query on db.
func prepareAll(ctx context.Context, db *sqlx.DB) (map[string]*sqlx.Stmt, error) {
	qs, err := loadQueries()
	if err != nil {
		return nil, err
	}
	stmts := make(map[string]*sqlx.Stmt, len(qs))
	names := make([]string, 0, len(qs))
	for n := range qs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st, err := db.PreparexContext(ctx, qs[n])
		if err != nil {
			for _, st := range stmts {
				st.Close()
			}
			return nil, fmt.Errorf("store: prepare %s: %w", n, err)
		}
		stmts[n] = st
	}
	return stmts, nil
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
