package lobby

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// newCode returns a random join code of CodeLen characters from
// CodeAlphabet (28^6, about 4.8e8 codes), drawn with crypto/rand without
// modulo bias.
func newCode() string {
	var b [CodeLen]byte
	var r [1]byte
	for i := 0; i < CodeLen; {
		if _, err := rand.Read(r[:]); err != nil {
			panic("lobby: crypto/rand failed: " + err.Error())
		}
		// 252 = 9*28: reject the top bytes so every character is equally likely.
		if r[0] >= 252 {
			continue
		}
		b[i] = CodeAlphabet[int(r[0])%len(CodeAlphabet)]
		i++
	}
	return string(b[:])
}

// NormalizeCode upper-cases a typed join code and drops spaces and dashes;
// it returns "" when the result is not CodeLen characters of CodeAlphabet.
func NormalizeCode(s string) string {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(s))
	if len(s) != CodeLen {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(CodeAlphabet, s[i]) < 0 {
			return ""
		}
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("lobby: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
