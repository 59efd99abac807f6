package mesh

import (
	"context"
	"fmt"
	"slices"

	"github.com/rallypoint/rallypoint/netcode"
)

// Connect starts a mesh over sig for the match r and waits until every
// other peer of the roster (r.Remotes(): players and spectators) is
// connected. The mesh uses cfg (nil: the zero Config) with r.ICEServers
// added after cfg.ICEServers. sig must be in the match's room under the id
// r.Self. With cfg.OnDemand, Connect dials those peers (Dial), so the
// mesh connects to the roster and to whoever dials it, not to every
// member of the room (a match whose room also holds a spectator tree).
//
// On success the caller owns the mesh and closes it. If ctx ends first,
// Connect closes the mesh and returns an error that wraps ctx.Err() (so
// errors.Is(err, context.Canceled) or context.DeadlineExceeded holds) and
// names the peers that had not connected. A peer that fails to connect is
// retried by the mesh as usual (Config.ReconnectAfter) while ctx lasts.
func Connect(ctx context.Context, sig netcode.Signaler, r netcode.Roster, cfg *Config) (*Mesh, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if id := netcode.PeerID(sig.LocalID()); id != r.Self {
		if id == "" {
			return nil, ErrNoLocalID
		}
		return nil, fmt.Errorf("%w: the signaler's id is %q, the roster's self %q", netcode.ErrBadRoster, id, r.Self)
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	c.ICEServers = append(slices.Clip(c.ICEServers), r.ICEServers...)
	m, err := New(sig, c)
	if err != nil {
		return nil, err
	}
	if c.OnDemand {
		for _, id := range r.Remotes() {
			if err := m.Dial(id); err != nil {
				m.Close()
				return nil, err
			}
		}
	}
	if err := m.waitPeers(ctx, r.Remotes()); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// waitPeers blocks until every peer of want is connected, ctx ends or the
// mesh is closed.
func (m *Mesh) waitPeers(ctx context.Context, want []netcode.PeerID) error {
	for {
		changed := m.changes()
		if m.isClosed() {
			return ErrClosed
		}
		var missing []netcode.PeerID
		m.mu.Lock()
		for _, id := range want {
			p := m.peers[id]
			if p == nil {
				missing = append(missing, id)
				continue
			}
			if s := p.loadState(); s != PeerStateConnected && s != PeerStateInterrupted {
				missing = append(missing, id)
			}
		}
		m.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mesh: %d of %d peers not connected %v: %w", len(missing), len(want), missing, ctx.Err())
		case <-changed:
		}
	}
}
