//go:build !js

package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// serverPingsVisible reports whether the transport shows the server's
// WebSocket pings to the program. gorilla does, so they keep the read
// deadline fresh and the client sends no keep-alives of its own.
const serverPingsVisible = true

// gorillaConn is the native wsConn.
type gorillaConn struct {
	ws *websocket.Conn
	wt time.Duration // bounds pong writes
}

// dialWS opens the WebSocket to u with gorilla/websocket, honouring
// cfg.NetDialContext, TLSConfig, Header and the proxy environment. A refused
// upgrade returns *HTTPError, with the server's coded error when its body
// carries one.
func dialWS(ctx context.Context, u string, cfg *ClientConfig) (wsConn, error) {
	// gorilla honours only the deadline of ctx during the HTTP handshake,
	// not its cancellation: watch ctx and expire the socket's deadline.
	dial := cfg.NetDialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var rawMu sync.Mutex
	var raw net.Conn
	stopDialWatch := context.AfterFunc(ctx, func() {
		rawMu.Lock()
		if raw != nil {
			raw.SetDeadline(time.Unix(1, 0))
		}
		rawMu.Unlock()
	})
	defer stopDialWatch()
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err == nil {
				rawMu.Lock()
				raw = conn
				rawMu.Unlock()
			}
			return conn, err
		},
		TLSClientConfig:  cfg.TLSConfig,
		HandshakeTimeout: cfg.HandshakeTimeout,
		ReadBufferSize:   2048,
		WriteBufferSize:  2048,
		Proxy:            http.ProxyFromEnvironment,
	}
	ws, resp, err := d.DialContext(ctx, u, cfg.Header)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("signaling: dial: %w", context.Cause(ctx))
		}
		if resp != nil {
			he := &HTTPError{StatusCode: resp.StatusCode}
			if body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096)); len(body) > 0 {
				if env, derr := Decode(body); derr == nil && env.Type == TypeError {
					var ed ErrorData
					if json.Unmarshal(env.Data, &ed) == nil {
						he.Err = &Error{Code: ed.Code, Message: ed.Message}
					}
				}
			}
			return nil, he
		}
		return nil, fmt.Errorf("signaling: dial: %w", err)
	}
	ws.SetReadLimit(cfg.MaxMessageSize)
	return &gorillaConn{ws: ws, wt: cfg.WriteTimeout}, nil
}

func (g *gorillaConn) readText() ([]byte, error) {
	for {
		mt, data, err := g.ws.ReadMessage()
		if err != nil {
			return nil, err
		}
		if mt == websocket.TextMessage {
			return data, nil
		}
	}
}

func (g *gorillaConn) setReadDeadline(t time.Time) { g.ws.SetReadDeadline(t) }

func (g *gorillaConn) writeText(b []byte, timeout time.Duration) error {
	g.ws.SetWriteDeadline(time.Now().Add(timeout))
	return g.ws.WriteMessage(websocket.TextMessage, b)
}

func (g *gorillaConn) closeNormal(timeout time.Duration) {
	g.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(timeout))
}

func (g *gorillaConn) close() error { return g.ws.Close() }

func (g *gorillaConn) noKeepAlive() { noTCPKeepAlive(g.ws.NetConn()) }

func (g *gorillaConn) onPing(fn func() time.Time) {
	g.ws.SetPingHandler(func(data string) error {
		g.ws.SetReadDeadline(fn())
		err := g.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(g.wt))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
}
