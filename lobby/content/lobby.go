package content

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/rallypoint/rallypoint/lobby"
)

// Content in a lobby. The host offers content by putting its references in
// the lobby's metadata, one per key: MetaKeyPrefix + "0", "1", ... (at
// most MaxOffers; a Ref's text fits lobby.MaxMetaValue). Each member
// reports its progress in its own member metadata under the same keys,
// as "<first 12 hex digits of the id> <have>/<pieces>". Offered, Missing
// and Start read them; Offer and ReportProgress write them, keeping the
// other keys.
const (
	MetaKeyPrefix = "content."
	MaxOffers     = 4
)

// ErrMissing is the cause of a *MissingError.
var ErrMissing = errors.New("content: members lack the lobby's content")

// MissingError names the members that do not yet have the lobby's
// content whole, and what each has.
type MissingError struct {
	Members []string       // member ids, in the lobby's order
	Have    map[string]int // pieces each of them reported, over all offers
	Pieces  int            // pieces of all offers
}

func (e *MissingError) Error() string {
	var b strings.Builder
	for i, m := range e.Members {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%d/%d)", m, e.Have[m], e.Pieces)
	}
	return fmt.Sprintf("%v: %s", ErrMissing, b.String())
}

func (e *MissingError) Unwrap() error { return ErrMissing }

// Offer puts refs in the lobby's metadata (host only), replacing any
// earlier offer and keeping the lobby's other keys.
func Offer(ctx context.Context, c *lobby.Client, refs ...Ref) error {
	if len(refs) > MaxOffers {
		return fmt.Errorf("%w: %d offers (max %d)", ErrTooLarge, len(refs), MaxOffers)
	}
	st, ok := c.State()
	if !ok {
		return fmt.Errorf("content: not in a lobby")
	}
	meta := withoutOffers(st.Meta)
	for i, r := range refs {
		meta[MetaKeyPrefix+strconv.Itoa(i)] = r.String()
	}
	return c.SetSettings(ctx, lobby.SettingsData{Meta: meta})
}

func withoutOffers(m map[string]string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = make(map[string]string)
	}
	maps.DeleteFunc(out, func(k, _ string) bool { return strings.HasPrefix(k, MetaKeyPrefix) })
	return out
}

// Offered returns the content the lobby offers, in key order. A value
// that is not a valid reference is an error.
func Offered(st lobby.State) ([]Ref, error) {
	offers, err := offered(st)
	refs := make([]Ref, len(offers))
	for i, o := range offers {
		refs[i] = o.ref
	}
	return refs, err
}

// offer is one offered content and its metadata key.
type offer struct {
	key string
	ref Ref
}

func offered(st lobby.State) ([]offer, error) {
	var out []offer
	for i := range MaxOffers {
		k := MetaKeyPrefix + strconv.Itoa(i)
		v, ok := st.Meta[k]
		if !ok {
			continue
		}
		r, err := ParseRef(v)
		if err != nil {
			return nil, err
		}
		out = append(out, offer{k, r})
	}
	return out, nil
}

// ReportProgress puts what s has of the lobby's offered content (as the
// client's lobby state shows it: after Offer, wait for the state to
// carry the offer) in this member's metadata, keeping its other keys. Call it as progress events
// arrive (a few times a second at most: each call is a lobby request that
// every member receives) and once on completion.
func ReportProgress(ctx context.Context, c *lobby.Client, s *Swarm) error {
	st, ok := c.State()
	if !ok {
		return fmt.Errorf("content: not in a lobby")
	}
	offers, err := offered(st)
	if err != nil {
		return err
	}
	me, _ := st.Member(c.ID())
	meta := withoutOffers(me.Meta)
	for _, o := range offers {
		p, err := s.Progress(o.ref.ID)
		if err != nil {
			continue
		}
		meta[o.key] = fmt.Sprintf("%s %d/%d", o.ref.ID.Short(), p.Have, o.ref.Pieces())
	}
	return c.SetMemberMeta(ctx, meta)
}

// Missing reports which members do not have all of the lobby's offered
// content, as their metadata says: nil when every member has it (or
// nothing is offered), else a *MissingError.
func Missing(st lobby.State) error {
	offers, err := offered(st)
	if err != nil {
		return err
	}
	total := 0
	for _, o := range offers {
		total += o.ref.Pieces()
	}
	e := &MissingError{Have: make(map[string]int), Pieces: total}
	for _, m := range st.Members {
		have, whole := 0, true
		for _, o := range offers {
			n, ok := parseProgress(m.Meta[o.key], o.ref)
			have += n
			if !ok || n < o.ref.Pieces() {
				whole = false
			}
		}
		if !whole {
			e.Members = append(e.Members, m.ID)
			e.Have[m.ID] = have
		}
	}
	if len(e.Members) == 0 {
		return nil
	}
	return e
}

// parseProgress reads "<id12> <have>/<pieces>" for r.
func parseProgress(v string, r Ref) (int, bool) {
	f := strings.Fields(v)
	if len(f) != 2 || f[0] != r.ID.Short() {
		return 0, false
	}
	have, pieces, ok := strings.Cut(f[1], "/")
	h, err1 := strconv.Atoi(have)
	p, err2 := strconv.Atoi(pieces)
	if !ok || err1 != nil || err2 != nil || p != r.Pieces() || h < 0 || h > p {
		return 0, false
	}
	return h, true
}

// Start starts the lobby's match (host only) if every member has the
// offered content; otherwise it returns a *MissingError that says who is
// missing it, and starts nothing.
func Start(ctx context.Context, c *lobby.Client) (lobby.Session, error) {
	st, ok := c.State()
	if !ok {
		return lobby.Session{}, fmt.Errorf("content: not in a lobby")
	}
	if err := Missing(st); err != nil {
		return lobby.Session{}, err
	}
	return c.Start(ctx)
}
