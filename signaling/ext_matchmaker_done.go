package signaling

// Done returns a channel that is closed when the server begins to close
// (Close or Shutdown). Services built on the server, such as the
// matchmaker's, stop their own goroutines when it is closed.
func (s *Server) Done() <-chan struct{} { return s.ctx.Done() }
