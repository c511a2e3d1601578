package store

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// rawStore opens a database without migrating it.
func rawStore(t *testing.T) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sqlx.Open("sqlite3", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &Store{db: db, Now: time.Now}
}

func fakeMigrations(ns ...int) []migration {
	var out []migration
	for _, n := range ns {
		name := "t" + string(rune('0'+n))
		out = append(out, migration{n: n, name: name + ".sql", sql: "CREATE TABLE " + name + " (x INTEGER)"})
	}
	return out
}

func tables(t *testing.T, s *Store) []string {
	t.Helper()
	var ts []string
	if err := s.db.Select(&ts, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 't_' ORDER BY name"); err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestMigrationsWithGapsAndOutOfOrderArrivals(t *testing.T) {
	ctx := context.Background()
	s := rawStore(t)
	steps := []struct {
		name    string
		have    []int
		tables  []string
		version int
		tooNew  bool
	}{
		{"a gap: 1 and 3", []int{1, 3}, []string{"t1", "t3"}, 3, false},
		{"again: nothing to do", []int{1, 3}, []string{"t1", "t3"}, 3, false},
		{"2 and 4 arrive later: both applied", []int{1, 2, 3, 4}, []string{"t1", "t2", "t3", "t4"}, 4, false},
		{"an older binary is refused", []int{1, 2, 3}, nil, 0, true},
		{"a binary without 2 is refused", []int{1, 3, 4}, nil, 0, true},
	}
	for _, st := range steps {
		err := s.migrateWith(ctx, fakeMigrations(st.have...))
		if st.tooNew {
			if !errors.Is(err, ErrTooNew) {
				t.Errorf("%s: got %v, want ErrTooNew", st.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := tables(t, s); !slices.Equal(got, st.tables) {
			t.Errorf("%s: tables %v, want %v", st.name, got, st.tables)
		}
		if v, _ := s.SchemaVersion(ctx); v != st.version {
			t.Errorf("%s: user_version %d, want %d", st.name, v, st.version)
		}
	}
}

func TestMigrationsFromBeforeTheBookkeepingTable(t *testing.T) {
	// A database written by a refdesk that recorded only user_version: 1
	// is applied (re-running it would fail: its table exists), 3 is not.
	ctx := context.Background()
	s := rawStore(t)
	if _, err := s.db.Exec("CREATE TABLE t1 (x INTEGER); PRAGMA user_version = 1"); err != nil {
		t.Fatal(err)
	}
	if err := s.migrateWith(ctx, fakeMigrations(1, 3)); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, s); !slices.Equal(got, []string{"t1", "t3"}) {
		t.Errorf("tables %v", got)
	}
	var applied []int
	s.db.Select(&applied, "SELECT version FROM schema_migrations ORDER BY version")
	if !slices.Equal(applied, []int{1, 3}) {
		t.Errorf("schema_migrations = %v, want [1 3]", applied)
	}
}

func TestEmbeddedMigrationsAreSortedAndUnique(t *testing.T) {
	list, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 2 || list[0].n != 1 {
		t.Fatalf("migrations = %+v", list)
	}
	for i := 1; i < len(list); i++ {
		if list[i].n <= list[i-1].n {
			t.Errorf("%s after %s", list[i].name, list[i-1].name)
		}
	}
	s := openTest(t)
	v, _ := s.SchemaVersion(context.Background())
	if v != list[len(list)-1].n {
		t.Errorf("a new database is at version %d, want %d", v, list[len(list)-1].n)
	}
}
