package oauth

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/emersion/go-sasl"
)

// XOAuth2 is the SASL mechanism name of Google's and Microsoft's XOAUTH2.
const XOAuth2 = "XOAUTH2"

// xoauth2Client is the client side of XOAUTH2: one initial response
// "user=U^Aauth=Bearer T^A^A"; on failure the server sends a JSON challenge,
// which is answered with an empty response so the server can say no.
// (go-sasl has OAUTHBEARER, RFC 7628, but not XOAUTH2.)
type xoauth2Client struct{ user, token string }

// NewXOAuth2Client returns a SASL client for XOAUTH2.
func NewXOAuth2Client(user, token string) sasl.Client { return &xoauth2Client{user, token} }

func (c *xoauth2Client) Start() (string, []byte, error) {
	return XOAuth2, []byte("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	// The challenge is the server's JSON error; the empty answer ends the
	// exchange with the server's failure.
	return []byte{}, nil
}

// NewClient returns the SASL client for mech ("xoauth2" or "oauthbearer").
func NewClient(mech, user, token, host string, port int) sasl.Client {
	if mech == "oauthbearer" {
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: token, Host: host, Port: port})
	}
	return NewXOAuth2Client(user, token)
}

// ErrBadToken is what the test servers return for a token they refuse.
var ErrBadToken = errors.New("invalid or expired token")

// xoauth2Server is the server side of XOAUTH2, for test servers.
type xoauth2Server struct {
	check  func(user, token string) error
	failed error
	done   bool
}

// NewXOAuth2Server returns a SASL server for XOAUTH2 that accepts what check
// accepts (test servers use it to check the tokens refdesk sends).
func NewXOAuth2Server(check func(user, token string) error) sasl.Server {
	return &xoauth2Server{check: check}
}

func (s *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if s.done {
		return nil, true, errors.New("xoauth2: unexpected response")
	}
	if s.failed != nil { // the client's empty answer to the error challenge
		s.done = true
		return nil, true, s.failed
	}
	if resp == nil {
		return []byte{}, false, nil // ask for the initial response
	}
	var user, token string
	for _, kv := range bytes.Split(resp, []byte{1}) {
		switch {
		case bytes.HasPrefix(kv, []byte("user=")):
			user = string(kv[5:])
		case bytes.HasPrefix(kv, []byte("auth=Bearer ")):
			token = string(kv[12:])
		}
	}
	if user == "" || token == "" {
		s.done = true
		return nil, true, fmt.Errorf("xoauth2: malformed initial response")
	}
	if err := s.check(user, token); err != nil {
		s.failed = err
		return []byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`), false, nil
	}
	s.done = true
	return nil, true, nil
}
