package content

import "math/bits"

// bitset is a set of piece indexes: bit i is bit i%8 of byte i/8, as on
// the wire.
type bitset []byte

func newBitset(n int) bitset { return make(bitset, (n+7)/8) }

func (b bitset) get(i int) bool { return i/8 < len(b) && b[i/8]&(1<<(i%8)) != 0 }
func (b bitset) set(i int)      { b[i/8] |= 1 << (i % 8) }
func (b bitset) clear(i int)    { b[i/8] &^= 1 << (i % 8) }

// fill sets every bit; trim then clears those past the count.
func (b bitset) fill() {
	for i := range b {
		b[i] = 0xff
	}
}

// trim clears the bits at and past n.
func (b bitset) trim(n int) {
	if r := n % 8; r != 0 && len(b) > 0 {
		b[len(b)-1] &= byte(1<<r) - 1
	}
}

func (b bitset) count() int {
	c := 0
	for _, x := range b {
		c += bits.OnesCount8(x)
	}
	return c
}
