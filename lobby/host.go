package lobby

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallypoint/rallypoint/lobby/dnssd"
	"github.com/rallypoint/rallypoint/signaling"
)

// The TXT keys of an advertised LAN lobby (RFC 6763 §6: short keys, values
// as text). Only append.
const (
	TXTVersion  = "v"       // ProtocolVersion
	TXTGame     = "game"    // CreateData.Game
	TXTName     = "name"    // the lobby name (the instance name may carry a " (2)" suffix)
	TXTID       = "id"      // the lobby id, for Client.Join
	TXTPlayers  = "players" // members now
	TXTMax      = "max"     // member limit
	TXTPassword = "pw"      // "1" when a password is needed, else "0"
	TXTPath     = "path"    // the WebSocket path of the signaling endpoint
	TXTFrom     = "from"    // on a lobby that took over from one whose host was gone (LANMatchConfig.Migrate): the old lobby's id
)

// wsPath is where a Host serves the signaling protocol.
const wsPath = "/ws"

// HostConfig configures a LAN Host. The zero value is valid.
type HostConfig struct {
	// Addr is the address the signaling server listens on. Empty means
	// ":0": every address, IPv4 and IPv6, on a free port.
	Addr string
	// Lobby is the lobby the hosting player creates. An empty Name means
	// "Lobby on HOSTNAME". Private lobbies are served but not advertised
	// (players join them by address and code).
	Lobby CreateData
	// LAN configures the mDNS/DNS-SD side (interfaces, host name, TTL,
	// probing). The zero value uses every multicast interface.
	LAN LANConfig
	// Signaling configures the host's signaling server. The zero value is
	// the development configuration (anonymous), with a PingInterval of
	// LANPingInterval (1 s) unless set: members' clients (DialLAN) drop a
	// silent connection after LANIdleTimeout and report the host gone.
	Signaling signaling.Config
	// Service configures the host's lobby service. Its OnChange is
	// chained after the Host's own.
	Service Config
	// Client configures the hosting player's own client. Nil means its
	// zero value.
	Client *ClientConfig
	// ExtraTXT adds "key=value" strings of the game's own to the
	// advertisement (browsers read them from LANLobby.TXT); keys this
	// package uses are ignored. Nil means none.
	ExtraTXT []string

	from string // TXTFrom: the id of the lobby this one took over from
}

// Host is a LAN lobby: the hosting player's process serves the signaling
// and lobby protocol on its LAN addresses and advertises the lobby over
// DNS-SD, keeping the TXT record's player count current. The hosting
// player is the lobby's first member and host, through Client.
//
// When the Host closes (or its process dies) the lobby ends. Close tells
// every member first (lobby.kicked with closed set: their clients report
// Closed with ErrLobbyClosed at once) and sends DNS-SD goodbyes, so
// browsers drop the lobby within a second. When the process dies, the
// kernel closes its connections: members' LAN clients report Closed with
// ErrHostGone once ClientConfig.HostGrace (1.5 s) passes without the host
// coming back, or LANIdleTimeout plus ClientConfig.HostSilence (15 s)
// after the host stops answering (a machine switched off); browsers drop
// the lobby when its records' TTL (LAN.HostTTL, 100 s) runs out.
type Host struct {
	ln     net.Listener
	hs     *http.Server
	srv    *signaling.Server
	svc    *Service
	client *Client
	node   *dnssd.Node
	reg    *dnssd.Registration
	url    string
	id     atomic.Pointer[string]
	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{}
	done   chan struct{}
	served chan error
	once   sync.Once
	extra  []string
}

// NewHost starts the server, creates the lobby and advertises it. It
// returns once the advertisement is announced (probing the name on the
// link takes about a second unless LAN.NoProbe is set).
func NewHost(ctx context.Context, cfg HostConfig) (_ *Host, err error) {
	addr := cfg.Addr
	if addr == "" {
		addr = ":0"
	}
	if cfg.Lobby.Name == "" {
		name, _ := os.Hostname()
		cfg.Lobby.Name = instanceName("Lobby on " + name)
	}
	h := &Host{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), served: make(chan error, 1)}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			close(h.done) // the watcher never started
			h.Close()
		}
	}()
	if h.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("lobby: host: %w", err)
	}
	if cfg.Signaling.PingInterval == 0 {
		cfg.Signaling.PingInterval = LANPingInterval
	}
	h.srv = signaling.NewServer(cfg.Signaling)
	sc := cfg.Service
	next := sc.OnChange
	sc.OnChange = func(s Summary, gone bool) {
		if id := h.id.Load(); id != nil && *id == s.ID {
			select {
			case h.wake <- struct{}{}:
			default:
			}
		}
		if next != nil {
			next(s, gone)
		}
	}
	if h.svc, err = New(h.srv, sc); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(wsPath, h.srv)
	h.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { h.served <- h.hs.Serve(h.ln) }()

	tcp := h.ln.Addr().(*net.TCPAddr)
	host := "127.0.0.1"
	if !tcp.IP.IsUnspecified() {
		host = tcp.IP.String()
	}
	h.url = "ws://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port)) + wsPath
	if h.client, err = Dial(ctx, h.url, cfg.Client); err != nil {
		return nil, fmt.Errorf("lobby: host: own client: %w", err)
	}
	st, err := h.client.Create(ctx, cfg.Lobby)
	if err != nil {
		return nil, err
	}
	h.id.Store(&st.ID)
	var advertised []string
	if !cfg.Lobby.Private {
		if h.node, err = dnssd.New(cfg.LAN.node()); err != nil {
			return nil, fmt.Errorf("lobby: host: %w", err)
		}
		h.extra = extraTXT(cfg.ExtraTXT)
		if cfg.from != "" {
			h.extra = append(h.extra, TXTFrom+"="+cfg.from)
		}
		advertised = h.txt(st.ID)
		h.reg, err = h.node.Advertise(ctx, dnssd.Service{Instance: instanceName(st.Name), Type: LANServiceType, Port: uint16(tcp.Port), TXT: advertised})
		if err != nil {
			return nil, fmt.Errorf("lobby: host: advertising: %w", err)
		}
	}
	// Players may join by address while the name is being probed: the
	// watcher compares with what was advertised, and their wake-up is
	// waiting for it.
	go h.watch(st.ID, advertised)
	return h, nil
}

// instanceName cuts a lobby name to a DNS label on a rune boundary.
func instanceName(name string) string {
	if len(name) <= dnssd.MaxInstanceLen {
		return name
	}
	cut := dnssd.MaxInstanceLen
	for cut > 0 && name[cut]&0xC0 == 0x80 {
		cut--
	}
	return name[:cut]
}

// extraTXT keeps the strings of txt whose keys this package does not use.
func extraTXT(txt []string) []string {
	var out []string
	for _, kv := range txt {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case TXTVersion, TXTGame, TXTName, TXTID, TXTPlayers, TXTMax, TXTPassword, TXTPath, TXTFrom, "":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (h *Host) txt(id string) []string {
	txt := lanTXT(h.svc, id)
	if txt == nil {
		return nil
	}
	return append(txt, h.extra...)
}

func lanTXT(svc *Service, id string) []string {
	st, ok := svc.State(id)
	if !ok {
		return nil
	}
	pw := "0"
	if st.HasPassword {
		pw = "1"
	}
	return []string{TXTVersion + "=" + strconv.Itoa(ProtocolVersion), TXTGame + "=" + st.Game, TXTName + "=" + st.Name,
		TXTID + "=" + st.ID, TXTPlayers + "=" + strconv.Itoa(len(st.Members)), TXTMax + "=" + strconv.Itoa(st.MaxMembers),
		TXTPassword + "=" + pw, TXTPath + "=" + wsPath}
}

// watch keeps the TXT record in step with the lobby, starting from the
// advertised one, and withdraws the advertisement when the lobby ends.
func (h *Host) watch(id string, last []string) {
	defer close(h.done)
	for {
		select {
		case <-h.stop:
			return
		case <-h.wake:
		}
		if _, ok := h.svc.State(id); !ok {
			if h.reg != nil {
				_ = h.reg.Close() // goodbye: the lobby is over
			}
			return
		}
		txt := h.txt(id)
		if h.reg == nil || slices.Equal(txt, last) {
			continue
		}
		ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second) // Close cancels h.ctx
		if err := h.reg.UpdateTXT(ctx, txt); err == nil {
			last = txt
		}
		cancel()
	}
}

// tellClosed pushes lobby.kicked with closed set to every member but the
// hosting player, ahead of the goodbyes and the server's close frames, which
// leave its writers time to send it.
func (h *Host) tellClosed() {
	id := h.id.Load()
	if h.svc == nil || h.srv == nil || id == nil {
		return
	}
	st, ok := h.svc.State(*id)
	if !ok {
		return
	}
	self := h.client.ID()
	for _, m := range st.Members {
		if m.ID != self {
			_ = h.srv.Send(m.ID, TypeKicked, KickedData{Lobby: st.ID, By: self, Closed: true})
		}
	}
}

// Client returns the hosting player's client: the lobby's first member
// and host.
func (h *Host) Client() *Client { return h.client }

// Service returns the host's lobby service.
func (h *Host) Service() *Service { return h.svc }

// LobbyID returns the id of the hosted lobby.
func (h *Host) LobbyID() string { return *h.id.Load() }

// URL returns the signaling endpoint as the host itself dials it.
func (h *Host) URL() string { return h.url }

// Addr returns the listener's address.
func (h *Host) Addr() net.Addr { return h.ln.Addr() }

// Instance returns the advertised DNS-SD instance name ("" for a private
// lobby), which may carry a " (2)" suffix after a name conflict.
func (h *Host) Instance() string {
	if h.reg == nil {
		return ""
	}
	return h.reg.Service().Instance
}

// Close tells the lobby's members that it closed, withdraws the
// advertisement with a goodbye, closes the hosting player's client, stops
// the server and waits for every goroutine the Host started. Close is
// idempotent.
func (h *Host) Close() error {
	var err error
	h.once.Do(func() {
		h.tellClosed()
		close(h.stop)
		h.cancel()
		<-h.done
		if h.reg != nil {
			_ = h.reg.Close()
		}
		if h.node != nil {
			_ = h.node.Close()
		}
		if h.client != nil {
			_ = h.client.Close()
		}
		if h.svc != nil {
			_ = h.svc.Close()
		}
		if h.srv != nil {
			_ = h.srv.Close()
		}
		if h.hs != nil {
			_ = h.hs.Close()
			if e := <-h.served; e != nil && !errors.Is(e, http.ErrServerClosed) {
				err = e
			}
		} else if h.ln != nil {
			_ = h.ln.Close()
		}
	})
	return err
}
