package signaling

import (
	"strings"
	"testing"
)

func TestJSONSizeIsMarshalJSONLength(t *testing.T) {
	for _, v := range []any{
		nil, 0, "", "<&>" + strings.Repeat("é", 40),
		map[string]any{"a": []int{1, 2, 3}, "b": map[string]string{"<": ">"}},
		Envelope{Type: TypeReply, Cid: "c"},
	} {
		b, err := MarshalJSON(v)
		if err != nil {
			t.Fatal(err)
		}
		n, err := JSONSize(v)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(b) {
			t.Errorf("JSONSize(%v) = %d, MarshalJSON gives %d bytes", v, n, len(b))
		}
	}
	if _, err := JSONSize(func() {}); err == nil {
		t.Error("JSONSize of a func: no error")
	}
}
