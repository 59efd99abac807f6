package signaling

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Identity is who a connection authenticated as.
type Identity struct {
	// Subject names the user; "" for an anonymous connection.
	Subject string `json:"sub,omitempty"`
	// Claims holds further signed attributes (for example a skill rating or
	// a region) for extension handlers to read.
	Claims map[string]string `json:"claims,omitempty"`
}

// Authenticator decides whether an HTTP request may open a session. The
// server consults it before the WebSocket upgrade; an error refuses the
// upgrade with HTTP 401 and CodeUnauthorized. Authenticate must be safe for
// concurrent use.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// Anonymous is the development Authenticator: it lets everyone in with an
// empty Identity. A Server whose Config.Auth is nil uses it.
type Anonymous struct{}

// Authenticate implements Authenticator.
func (Anonymous) Authenticate(*http.Request) (Identity, error) { return Identity{}, nil }

// HMACAuth accepts tokens signed with a shared secret, as issued by Issue.
// The token travels in the "token" query parameter or in an
// "Authorization: Bearer" header (browsers cannot set headers on a
// WebSocket, hence the query parameter).
//
// Token format: base64url(JSON{"sub","claims","exp"}) "." base64url(HMAC-SHA256(secret, first part)).
type HMACAuth struct {
	// Secret is the shared key. It must not be empty.
	Secret []byte
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

type tokenBody struct {
	Identity
	Exp int64 `json:"exp"`
}

// Issue returns a token for id that expires after ttl.
func (a HMACAuth) Issue(id Identity, ttl time.Duration) (string, error) {
	if len(a.Secret) == 0 {
		return "", fmt.Errorf("signaling: HMACAuth has no secret")
	}
	body, err := json.Marshal(tokenBody{Identity: id, Exp: a.now().Add(ttl).Unix()})
	if err != nil {
		return "", fmt.Errorf("signaling: issue token: %w", err)
	}
	p := base64.RawURLEncoding.EncodeToString(body)
	return p + "." + a.sign(p), nil
}

// Verify checks token and returns its identity, or an error wrapping ErrBadToken.
func (a HMACAuth) Verify(token string) (Identity, error) {
	if len(a.Secret) == 0 {
		return Identity{}, fmt.Errorf("%w: no secret configured", ErrBadToken)
	}
	if len(token) > 4096 {
		return Identity{}, fmt.Errorf("%w: too long", ErrBadToken)
	}
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Identity{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	if !hmac.Equal([]byte(sig), []byte(a.sign(p))) {
		return Identity{}, fmt.Errorf("%w: bad signature", ErrBadToken)
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	var b tokenBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return Identity{}, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	if a.now().Unix() >= b.Exp {
		return Identity{}, fmt.Errorf("%w: expired", ErrBadToken)
	}
	return b.Identity, nil
}

// Authenticate implements Authenticator.
func (a HMACAuth) Authenticate(r *http.Request) (Identity, error) {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			tok = strings.TrimPrefix(h, "Bearer ")
		}
	}
	if tok == "" {
		return Identity{}, fmt.Errorf("%w: missing", ErrBadToken)
	}
	return a.Verify(tok)
}

func (a HMACAuth) sign(p string) string {
	m := hmac.New(sha256.New, a.Secret)
	m.Write([]byte(p))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a HMACAuth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// TURNCredentials returns a short-lived TURN username and password in the
// scheme of the TURN REST API (draft-uberti-behave-turn-rest, as understood
// by coturn's use-auth-secret and pion/turn's LongTermTURNRESTAuthHandler):
// the username is "<expiry unix seconds>:<user>" and the password is
// base64(HMAC-SHA1(secret, username)).
func TURNCredentials(secret, user string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(m.Sum(nil))
}
