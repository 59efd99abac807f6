package mesh

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v4"

	"github.com/rallypoint/rallypoint/netcode"
)

// turnDialer dials TURN servers over TCP (and TLS for turns: URLs) for
// one connection attempt, with a deadline and canceled when the attempt
// is closed: pion's own TCP dial to a TURN server has no timeout, and an
// attempt's Close waits for it.
type turnDialer struct {
	ctx     context.Context // canceled when the attempt closes
	net     transport.Net   // nil: the host's network
	timeout time.Duration
	tls     map[string]string // "host:port" of a turns: server → its name
}

func newTURNDialer(ctx context.Context, n transport.Net, timeout time.Duration, servers []netcode.ICEServer) *turnDialer {
	d := &turnDialer{ctx: ctx, net: n, timeout: timeout, tls: map[string]string{}}
	for _, s := range servers {
		for _, u := range s.URLs {
			uri, err := stun.ParseURI(u)
			if err != nil || uri.Scheme != stun.SchemeTypeTURNS {
				continue
			}
			d.tls[net.JoinHostPort(uri.Host, fmt.Sprint(uri.Port))] = uri.Host
		}
	}
	return d
}

// Dial implements proxy.Dialer, which pion uses for TURN over TCP.
func (d *turnDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	defer cancel()
	var (
		c   net.Conn
		err error
	)
	if d.net != nil {
		// A transport.Net's dialer takes no context: its timeout bounds it.
		c, err = d.net.CreateDialer(&net.Dialer{Timeout: d.timeout}).Dial(network, addr)
	} else {
		var nd net.Dialer
		c, err = nd.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	if name, ok := d.tls[addr]; ok {
		tc := tls.Client(c, &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, err
		}
		return tc, nil
	}
	return c, nil
}

// turnReport collects what pion's ICE agent says about the TURN servers
// of one peer's attempts: pion reports a refused Allocate or an
// unreachable server only in its log, so the mesh reads the log.
type turnReport struct {
	mu          sync.Mutex
	auth        string // the last "credentials refused" message
	unreachable string // the last "no answer" message
	relayOK     bool   // a relay candidate was gathered
}

func (r *turnReport) note(msg string) {
	kind := classifyTURNLog(msg)
	if kind == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch kind {
	case turnAuthFailed:
		r.auth = msg
	case turnUnreachable:
		r.unreachable = msg
	}
}

func (r *turnReport) snapshot() (auth, unreachable string, relayOK bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.auth, r.unreachable, r.relayOK
}

func (r *turnReport) gotRelay() {
	r.mu.Lock()
	r.relayOK = true
	r.mu.Unlock()
}

const (
	turnAuthFailed = 1 + iota
	turnUnreachable
)

// classifyTURNLog sorts one of pion's log messages: an Allocate refused
// with 401 Unauthorized or 441 Wrong Credentials (as pion/turn words it:
// "Allocate error response (error 401: Unauthorized)"), or a TURN server
// that did not answer ("all retransmissions failed") or could not be
// dialed over TCP.
func classifyTURNLog(msg string) int {
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "allocate") &&
		(strings.Contains(lower, "error 401") || strings.Contains(lower, "error 441") || strings.Contains(lower, "unauthorized")):
		return turnAuthFailed
	case strings.Contains(lower, "all retransmissions failed"),
		strings.Contains(lower, "failed to dial tcp address"),
		strings.Contains(lower, "failed to connect to relay"):
		return turnUnreachable
	}
	return 0
}

// turnLogFactory gives pion loggers that feed the ICE agent's warnings to
// a turnReport and pass every message on to pion's default logger.
type turnLogFactory struct {
	inner  logging.LoggerFactory
	report *turnReport
	dead   func() bool // the attempt is closed: its own teardown says nothing
}

func (f *turnLogFactory) NewLogger(scope string) logging.LeveledLogger {
	l := f.inner.NewLogger(scope)
	if scope != "ice" && scope != "turnc" {
		return l
	}
	return &turnLogger{LeveledLogger: l, f: f}
}

type turnLogger struct {
	logging.LeveledLogger
	f *turnLogFactory
}

func (l *turnLogger) see(msg string) {
	if !l.f.dead() {
		l.f.report.note(msg)
	}
}

func (l *turnLogger) Warn(msg string) { l.see(msg); l.LeveledLogger.Warn(msg) }
func (l *turnLogger) Warnf(format string, args ...any) {
	l.see(fmt.Sprintf(format, args...))
	l.LeveledLogger.Warnf(format, args...)
}
func (l *turnLogger) Error(msg string) { l.see(msg); l.LeveledLogger.Error(msg) }
func (l *turnLogger) Errorf(format string, args ...any) {
	l.see(fmt.Sprintf(format, args...))
	l.LeveledLogger.Errorf(format, args...)
}

// candTypes is a set of candidate types.
type candTypes uint8

const (
	candHost candTypes = 1 << iota
	candSrflx
	candPrflx
	candRelay
)

func candTypeOf(typ string) candTypes {
	switch typ {
	case "host":
		return candHost
	case "srflx":
		return candSrflx
	case "prflx":
		return candPrflx
	case "relay":
		return candRelay
	}
	return 0
}

// list returns the types in the set, in the order host, srflx, prflx,
// relay.
func (t candTypes) list() []string {
	var out []string
	for i, name := range []string{"host", "srflx", "prflx", "relay"} {
		if t&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// candLineType returns the type of a candidate line ("candidate:... typ
// srflx ...").
func candLineType(cand string) string {
	f := strings.Fields(cand)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "typ" {
			return f[i+1]
		}
	}
	return ""
}

// connectError builds the error of a peer that could not be connected.
func (p *peer) connectError(relayTried bool, hadTURN bool, after time.Duration) *ConnectError {
	e := &ConnectError{
		Local:      p.localTypes.list(),
		Remote:     p.remoteTypes.list(),
		RelayTried: relayTried,
		After:      after,
	}
	auth, unreachable, relayOK := p.turn.snapshot()
	switch {
	case relayTried && hadTURN && auth != "" && !relayOK:
		e.Failure, e.Detail = ErrTURNAuth, auth
	case relayTried && hadTURN && !relayOK:
		e.Failure, e.Detail = ErrTURNUnreachable, unreachable
		if e.Detail == "" {
			e.Detail = "no relay candidate from any TURN server"
		}
	default:
		e.Failure = ErrNoCandidatePair
	}
	return e
}
