package match

import (
	"fmt"
	"strings"

	"github.com/rallypoint/rallypoint/signaling"
)

// servers is where an online player connects: one rallypoint signaling URL,
// or several nodes of one cluster, written as a comma-separated list
// ("ws://a:7000/ws,ws://b:7000/ws"). The client dials the first, then the
// others in order, and when its node dies or is drained it resumes its
// session on another (signaling.ClientConfig.URLs).
type servers struct {
	first string
	more  []string
	// loop is set when a server is on a loopback address: every peer may
	// be on this host, so the mesh gathers loopback candidates.
	loop bool
}

// parseServers checks a server URL or a comma-separated list of them.
func parseServers(raw string) (servers, error) {
	var s servers
	for _, u := range strings.Split(raw, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		loop, err := checkURL(u)
		if err != nil {
			return servers{}, err
		}
		s.loop = s.loop || loop
		if s.first == "" {
			s.first = u
		} else {
			s.more = append(s.more, u)
		}
	}
	if s.first == "" {
		return servers{}, fmt.Errorf("%w: no server URL in %q, want ws://HOST:PORT/ws (several: separated by commas)", ErrBadConfig, raw)
	}
	return s, nil
}

// client is the signaling client configuration that fails over to the
// other servers, or nil for one server.
func (s servers) client() *signaling.ClientConfig {
	if len(s.more) == 0 {
		return nil
	}
	return &signaling.ClientConfig{URLs: s.more}
}

// SplitServers splits a server list (one URL, or several of one cluster
// separated by commas) into its first URL and the others, for a
// signaling client of its own: signaling.Dial(ctx, first,
// &signaling.ClientConfig{URLs: more}).
func SplitServers(raw string) (first string, more []string) {
	for _, u := range strings.Split(raw, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		if first == "" {
			first = u
		} else {
			more = append(more, u)
		}
	}
	return first, more
}
