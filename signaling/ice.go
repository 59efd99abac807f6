package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// TypeICE is the request for fresh ICE servers and TURN credentials: a
// client sends it (with a cid, no data) at any time after welcome; the
// server answers with a reply whose data is ICEData, the list a welcome
// would carry now. A mesh asks for it before it uses TURN credentials that
// are near the end of their lifetime (netcode.ICERefresher). The string is
// part of the wire contract; see docs/protocol.md.
const TypeICE = "ice"

// ICEData is the payload of the reply to an ice request.
type ICEData struct {
	// ICEServers are the STUN/TURN servers, TURN credentials freshly made.
	ICEServers []ICEServer `json:"ice_servers"`
	// TTLMs is the lifetime of the TURN credentials in milliseconds, 0
	// when the list holds no credentials of the server's making.
	TTLMs int64 `json:"ttl_ms,omitempty"`
}

// maxICEServers bounds the servers of one ICEData a client accepts.
const maxICEServers = 32

// serveICE answers an ice request. It is registered by NewServer, so the
// LAN host, which runs a Server too, answers it as well.
func (s *Server) serveICE(req *Request) {
	d := ICEData{ICEServers: s.iceServers(req.Peer)}
	if d.ICEServers == nil {
		d.ICEServers = []ICEServer{}
	}
	if s.cfg.TURNSecret != "" && len(s.cfg.TURNURLs) > 0 {
		d.TTLMs = s.cfg.TURNTTL.Milliseconds()
	}
	_ = req.Reply(d)
}

// ParseICEData decodes the data of a reply to an ice request.
func ParseICEData(b []byte) (ICEData, error) {
	var d ICEData
	if len(b) > DefaultMaxMessageSize*4 {
		return d, &Error{Code: CodeBadRequest, Message: "ice reply too large"}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, &Error{Code: CodeBadRequest, Message: "invalid ice reply: " + trimErr(err)}
	}
	if len(d.ICEServers) > maxICEServers {
		return d, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("ice reply lists %d servers (limit %d)", len(d.ICEServers), maxICEServers)}
	}
	for _, srv := range d.ICEServers {
		if len(srv.URLs) == 0 {
			return d, &Error{Code: CodeBadRequest, Message: "ice server without urls"}
		}
	}
	return d, nil
}

var _ netcode.ICERefresher = (*Client)(nil)

// RefreshICEServers asks the server for fresh ICE servers and TURN
// credentials (an ice request), keeps them as the list ICEServers returns
// and returns them. It satisfies netcode.ICERefresher, through which a
// mesh on this client refreshes its TURN credentials.
func (c *Client) RefreshICEServers(ctx context.Context) ([]ICEServer, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	b, err := c.Request(ctx, TypeICE, nil)
	if err != nil {
		return nil, err
	}
	d, err := ParseICEData(b)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.ice = append([]ICEServer(nil), d.ICEServers...)
	c.mu.Unlock()
	return d.ICEServers, nil
}
