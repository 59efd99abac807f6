package content

// Debug describes the swarm's view of content id, for test failures.
func (s *Swarm) Debug(id ID) string { return s.debug(id) }
