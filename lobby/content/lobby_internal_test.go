package content

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rallypoint/rallypoint/lobby"
)

// TestMissing: a member is missing content unless its metadata reports
// every piece of every offer under the offer's id; stale, malformed or
// absent reports count as missing.
func TestMissing(t *testing.T) {
	a, _, _ := MakeRef(make([]byte, 100000), MinPieceSize) // 7 pieces
	b, _, _ := MakeRef([]byte("mod"), 0)                   // 1 piece
	st := lobby.State{Meta: map[string]string{"content.0": a.String(), "content.2": b.String()}}
	whole := map[string]string{"content.0": a.ID.Short() + " 7/7", "content.2": b.ID.Short() + " 1/1", "nick": "x"}
	st.Members = []lobby.Member{
		{ID: "ok", Meta: whole},
		{ID: "half", Meta: map[string]string{"content.0": a.ID.Short() + " 3/7", "content.2": b.ID.Short() + " 1/1"}},
		{ID: "stale", Meta: map[string]string{"content.0": b.ID.Short() + " 7/7", "content.2": b.ID.Short() + " 1/1"}},
		{ID: "bad", Meta: map[string]string{"content.0": a.ID.Short() + " 9/7", "content.2": b.ID.Short() + " 1/x"}},
		{ID: "none"},
	}
	err := Missing(st)
	var me *MissingError
	if !errors.As(err, &me) || fmt.Sprint(me.Members) != "[half stale bad none]" || me.Pieces != 8 || me.Have["half"] != 4 {
		t.Fatalf("%v %+v", err, me)
	}
	st.Members = st.Members[:1]
	if err := Missing(st); err != nil {
		t.Fatal(err)
	}
	if err := Missing(lobby.State{Members: st.Members[:1], Meta: map[string]string{"content.1": "rpc1:zz"}}); !errors.Is(err, ErrBadRef) {
		t.Fatalf("a bad offer: %v", err)
	}
	if err := Missing(lobby.State{Members: []lobby.Member{{ID: "x"}}}); err != nil {
		t.Fatalf("nothing offered: %v", err)
	}
}

func FuzzParseProgress(f *testing.F) {
	r, _, _ := MakeRef(make([]byte, 100000), MinPieceSize)
	f.Add(r.ID.Short() + " 3/7")
	f.Add("x 1/1")
	f.Fuzz(func(t *testing.T, v string) {
		h, ok := parseProgress(v, r)
		if ok && (h < 0 || h > r.Pieces()) {
			t.Fatalf("%q: %d", v, h)
		}
		if !ok && h != 0 {
			t.Fatalf("%q: %d without ok", v, h)
		}
	})
}
