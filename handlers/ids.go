package handlers

import (
	"crypto/rand"
	"math/big"
	mathrand "math/rand/v2"
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// NewID returns prefix + "_" + 16 random alphanumerics. Unkey uses 9; keyline
// draws more because its IDs come from crypto/rand and must not collide
// across nodes that never talk to each other. Clients treat IDs as opaque.
func NewID(prefix string) string {
	return prefix + "_" + randomString(16, idAlphabet)
}

// NewRequestID returns "req_" + 9 alphanumerics, the shape Unkey's request
// IDs have. They label requests in logs and analytics and guard nothing, so
// they come from math/rand/v2's per-thread generator: crypto/rand's
// getrandom call was 5 % of the verifyKey handler's CPU.
func NewRequestID() string {
	var b [13]byte
	copy(b[:], "req_")
	for i := 4; i < len(b); i++ {
		b[i] = idAlphabet[mathrand.IntN(len(idAlphabet))]
	}
	return string(b[:])
}

// randomString draws n characters uniformly from alphabet (at most 256
// characters). It reads crypto/rand a buffer at a time and rejects bytes at
// or above the largest multiple of len(alphabet), so no character is more
// likely than another. Every request gets an ID from here: one rand.Read
// per call instead of a rand.Int (and its big.Int allocations) per
// character keeps it off the profile.
func randomString(n int, alphabet string) string {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
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
