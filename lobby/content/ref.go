package content

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Limits of the content format. They are part of the wire contract.
const (
	// MaxSize is the largest content a swarm carries: 64 MiB.
	MaxSize = 64 << 20
	// MinPieceSize and MaxPieceSize bound a piece; a piece size is a power
	// of two between them.
	MinPieceSize = 16 << 10
	MaxPieceSize = 1 << 20
	// DefaultPieceSize is the piece size Seed uses when Config.PieceSize
	// is zero: 64 KiB, four chunks of the mesh's reliable channel.
	DefaultPieceSize = 64 << 10
	// MaxPieces is the most pieces a content may have: MaxSize in
	// MinPieceSize pieces.
	MaxPieces = MaxSize / MinPieceSize
)

// ID names content: the SHA-256 of its bytes. A cache on disk keys
// content by it.
type ID [sha256.Size]byte

// String returns the id in lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for logs.
func (id ID) Short() string { return id.String()[:12] }

// Ref is what a peer needs to fetch content and check every byte of it:
// the content's id (its SHA-256), its size, the piece size, and the
// SHA-256 of its piece-hash list. The list itself comes from any peer that
// has it and is checked against ListHash before a piece is checked against
// the list; the whole content is checked against ID at the end. A lobby
// offers content by publishing a Ref (its String form).
type Ref struct {
	ID        ID
	Size      int64
	PieceSize int
	ListHash  [sha256.Size]byte
}

// Pieces returns the number of pieces.
func (r Ref) Pieces() int {
	if r.PieceSize <= 0 {
		return 0
	}
	return int((r.Size + int64(r.PieceSize) - 1) / int64(r.PieceSize))
}

// pieceLen returns the length of piece i.
func (r Ref) pieceLen(i int) int {
	off := int64(i) * int64(r.PieceSize)
	return int(min(int64(r.PieceSize), r.Size-off))
}

// Validate checks sizes: Size within [0, MaxSize], PieceSize a power of
// two within [MinPieceSize, MaxPieceSize].
func (r Ref) Validate() error {
	if r.Size < 0 || r.Size > MaxSize {
		return fmt.Errorf("%w: size %d (max %d)", ErrTooLarge, r.Size, MaxSize)
	}
	if !validPieceSize(r.PieceSize) {
		return fmt.Errorf("%w: piece size %d", ErrBadRef, r.PieceSize)
	}
	return nil
}

func validPieceSize(n int) bool {
	return n >= MinPieceSize && n <= MaxPieceSize && n&(n-1) == 0
}

// refPrefix starts the text form of a Ref; its digit is the format's
// version.
const refPrefix = "rpc1:"

// String returns the text form
//
//	rpc1:<id hex>:<size>:<log2 piece size>:<list hash hex>
//
// which ParseRef reads back.
func (r Ref) String() string {
	return fmt.Sprintf("%s%s:%d:%d:%s", refPrefix, r.ID, r.Size, bits.TrailingZeros(uint(r.PieceSize)), hex.EncodeToString(r.ListHash[:]))
}

// ParseRef reads the text form of a Ref (see Ref.String) and validates it.
func ParseRef(s string) (Ref, error) {
	var r Ref
	rest, ok := strings.CutPrefix(s, refPrefix)
	f := strings.Split(rest, ":")
	if !ok || len(f) != 4 {
		return r, fmt.Errorf("%w: %q", ErrBadRef, s)
	}
	if err := decodeHash(f[0], r.ID[:]); err != nil {
		return r, err
	}
	size, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return r, fmt.Errorf("%w: size %q", ErrBadRef, f[1])
	}
	shift, err := strconv.Atoi(f[2])
	if err != nil || shift < 0 || shift > 30 {
		return r, fmt.Errorf("%w: piece size %q", ErrBadRef, f[2])
	}
	if err := decodeHash(f[3], r.ListHash[:]); err != nil {
		return r, err
	}
	r.Size, r.PieceSize = size, 1<<shift
	return r, r.Validate()
}

func decodeHash(s string, dst []byte) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%w: hash %q", ErrBadRef, s)
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("%w: hash %q", ErrBadRef, s)
	}
	return nil
}

// MakeRef computes the reference of data cut into pieces of pieceSize
// (zero: DefaultPieceSize), and its piece-hash list.
func MakeRef(data []byte, pieceSize int) (Ref, [][sha256.Size]byte, error) {
	if pieceSize == 0 {
		pieceSize = DefaultPieceSize
	}
	r := Ref{ID: sha256.Sum256(data), Size: int64(len(data)), PieceSize: pieceSize}
	if err := r.Validate(); err != nil {
		return Ref{}, nil, err
	}
	list := make([][sha256.Size]byte, r.Pieces())
	for i := range list {
		off := i * pieceSize
		list[i] = sha256.Sum256(data[off : off+r.pieceLen(i)])
	}
	r.ListHash = hashList(list)
	return r, list, nil
}

// hashList is the SHA-256 of the piece hashes, concatenated in order.
func hashList(list [][sha256.Size]byte) [sha256.Size]byte {
	h := sha256.New()
	for i := range list {
		h.Write(list[i][:])
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
