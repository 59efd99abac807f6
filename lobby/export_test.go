package lobby

// SetSyncReplyHook makes c call f with each lobby.sync reply before it
// stores it, so that a test can land a push in between.
func SetSyncReplyHook(c *Client, f func(replied State)) {
	c.mu.Lock()
	c.syncHook = f
	c.mu.Unlock()
}
