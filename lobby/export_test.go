package lobby

import "time"

// SetSyncReplyHook makes c call f with each lobby.sync reply before it
// stores it, so that a test can land a push in between.
func SetSyncReplyHook(c *Client, f func(replied State)) {
	c.mu.Lock()
	c.syncHook = f
	c.mu.Unlock()
}

// HostTXT returns the TXT record h advertises now (nil for a private
// lobby).
func HostTXT(h *Host) []string {
	if h.reg == nil {
		return nil
	}
	return h.reg.Service().TXT
}

// HoldEvents stops c's event goroutine until release is called, so that a
// test can fill its push queue.
func HoldEvents(c *Client) (release func()) {
	h := make(chan struct{})
	c.hold <- h
	return func() { close(h) }
}

// NodeTTLs returns the TTLs a Host configured with c gives its SRV, TXT
// and address records (host) and its PTR records (service).
func NodeTTLs(c LANConfig) (host, service time.Duration) {
	n := c.node()
	return n.HostTTL, n.ServiceTTL
}
