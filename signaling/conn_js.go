//go:build js

package signaling

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// serverPingsVisible reports whether the transport shows the server's
// WebSocket pings to the program. A browser answers them itself and never
// tells the page, so the client sends application pings (TypePing) of its
// own to learn that the connection still works.
const serverPingsVisible = false

// browserConn is the js/wasm wsConn: coder/websocket over the browser's
// (or Node's) WebSocket object. Read deadlines become the cancellation of
// the context given to Read, which coder/websocket answers by closing the
// connection, as a passed deadline does natively.
type browserConn struct {
	ws         *websocket.Conn
	readCtx    context.Context
	cancelRead context.CancelFunc

	mu    sync.Mutex
	timer *time.Timer
}

// dialWS opens the WebSocket to u through the JavaScript WebSocket API.
// ClientConfig.NetDialContext, TLSConfig and Header do not apply there (the
// browser dials, verifies certificates and sets the headers), and a refused
// upgrade is reported without its HTTP status, which browsers hide.
func dialWS(ctx context.Context, u string, cfg *ClientConfig) (wsConn, error) {
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("signaling: dial: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("signaling: dial: %w", err)
	}
	ws.SetReadLimit(cfg.MaxMessageSize)
	b := &browserConn{ws: ws}
	b.readCtx, b.cancelRead = context.WithCancel(context.Background())
	return b, nil
}

func (b *browserConn) readText() ([]byte, error) {
	for {
		mt, data, err := b.ws.Read(b.readCtx)
		if err != nil {
			return nil, err
		}
		if mt == websocket.MessageText {
			return data, nil
		}
	}
}

func (b *browserConn) setReadDeadline(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case t.IsZero():
		if b.timer != nil {
			b.timer.Stop()
		}
	case b.timer == nil:
		b.timer = time.AfterFunc(time.Until(t), b.cancelRead)
	default:
		// A timer that already fired has ended the connection; Reset
		// only matters for one still pending.
		b.timer.Reset(time.Until(t))
	}
}

func (b *browserConn) writeText(p []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return b.ws.Write(ctx, websocket.MessageText, p)
}

// closeNormal starts the closing handshake. coder/websocket's Close waits
// for the browser's close event, which the reader waits for too, so it runs
// on its own short-lived goroutine; it ends once the connection has closed.
func (b *browserConn) closeNormal(time.Duration) {
	go b.ws.Close(websocket.StatusNormalClosure, "bye")
}

// close ends the connection. A browser cannot drop a WebSocket without the
// closing handshake; the reader is woken at once and the handshake finishes
// on its own short-lived goroutine.
func (b *browserConn) close() error {
	b.setReadDeadline(time.Time{})
	b.cancelRead()
	go b.ws.CloseNow()
	return nil
}

func (b *browserConn) onPing(func() time.Time) {}

func (b *browserConn) noKeepAlive() {} // the browser owns the socket
