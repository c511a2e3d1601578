// Package oauthtest is an OAuth2 token endpoint on loopback for tests: it
// exchanges a refresh token for short-lived access tokens (rotating the
// refresh token each time, as Microsoft does) and tells test IMAP and SMTP
// servers whether a token it issued is still valid.
package oauthtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Issuer is a running token endpoint.
type Issuer struct {
	// URL is the token endpoint (an oauth2_token_url).
	URL string
	// ClientID and RefreshToken are what it accepts at first.
	ClientID, RefreshToken string
	// Lifetime of the access tokens it issues.
	Lifetime time.Duration

	mu      sync.Mutex
	n       int
	refresh map[string]bool
	expiry  map[string]time.Time
	refused []string // why tokens were refused by Check
	scopes  []string
}

// Start starts an issuer whose access tokens live for lifetime.
func Start(t testing.TB, lifetime time.Duration) *Issuer {
	t.Helper()
	is := &Issuer{ClientID: "refdesk-test-client", RefreshToken: "refresh-0", Lifetime: lifetime,
		refresh: map[string]bool{"refresh-0": true}, expiry: map[string]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(is.serve))
	t.Cleanup(srv.Close)
	is.URL = srv.URL + "/token"
	return is
}

func (is *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.scopes = append(is.scopes, r.PostForm.Get("scope"))
	fail := func(code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "the test issuer says no"})
	}
	if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("client_id") != is.ClientID {
		fail("invalid_client")
		return
	}
	rt := r.PostForm.Get("refresh_token")
	if !is.refresh[rt] {
		fail("invalid_grant")
		return
	}
	is.n++
	access := fmt.Sprintf("access-%d", is.n)
	next := fmt.Sprintf("refresh-%d", is.n)
	is.refresh[next] = true
	is.expiry[access] = time.Now().Add(is.Lifetime)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer",
		"expires_in": int(is.Lifetime / time.Second), "refresh_token": next})
}

// Check is the test servers' token check: the token was issued here and has
// not expired. Refusals are recorded (see Refused).
func (is *Issuer) Check(user, token string) error {
	is.mu.Lock()
	defer is.mu.Unlock()
	exp, ok := is.expiry[token]
	switch {
	case !ok:
		is.refused = append(is.refused, "unknown token for "+user)
		return errors.New("unknown token")
	case time.Now().After(exp):
		is.refused = append(is.refused, "expired token for "+user)
		return errors.New("expired token")
	}
	return nil
}

// Issued is how many access tokens were issued.
func (is *Issuer) Issued() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.n
}

// Refused lists why Check refused tokens.
func (is *Issuer) Refused() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]string(nil), is.refused...)
}

// Scopes lists the scope parameter of every token request.
func (is *Issuer) Scopes() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]string(nil), is.scopes...)
}
