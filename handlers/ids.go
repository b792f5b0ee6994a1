package handlers

import (
	"crypto/rand"
	"math/big"
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// NewID returns prefix + "_" + 16 random alphanumerics. Unkey uses 9; keyline
// draws more because its IDs come from crypto/rand and must not collide
// across nodes that never talk to each other. Clients treat IDs as opaque.
func NewID(prefix string) string {
	return prefix + "_" + randomString(16, idAlphabet)
}

// NewRequestID returns "req_" + 9 alphanumerics, the shape Unkey's request
// IDs have.
func NewRequestID() string { return "req_" + randomString(9, idAlphabet) }

func randomString(n int, alphabet string) string {
	buf := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range buf {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		buf[i] = alphabet[v.Int64()]
	}
	return string(buf)
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// Base58 encodes b with the Bitcoin alphabet, as Unkey encodes key material.
func Base58(b []byte) string {
	n := new(big.Int).SetBytes(b)
	radix := big.NewInt(58)
	mod := new(big.Int)
	var out []byte
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		out = append(out, base58Alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, base58Alphabet[0])
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// NewSecret returns a fresh key: optional prefix + "_" + base58 of byteLength
// random bytes, and its "start" (the prefix plus the first 4 base58 chars).
func NewSecret(prefix string, byteLength int) (key, start string) {
	raw := make([]byte, byteLength)
	if _, err := rand.Read(raw); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	body := Base58(raw)
	if prefix == "" {
		return body, body[:4]
	}
	return prefix + "_" + body, prefix + "_" + body[:4]
}
