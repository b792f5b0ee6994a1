// Package keyring seals and opens the plaintext of recoverable keys.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
)

// Keyring seals the plaintext of recoverable keys with AES-256-GCM. The
// first configured entry encrypts; every entry decrypts, so a new key can be
// rotated in first while older ciphertexts stay readable. Without entries,
// recoverable keys are refused (Unkey's 412 when its vault is missing).
type Keyring struct {
	ids   []string
	aeads map[string]cipher.AEAD
}

// New builds the keyring from cfg.Encryption; a malformed key is a
// start-up error, never a surprise at the first recoverable key.
func New(cfg *configs.Config) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	if cfg.Encryption == nil {
		return k, nil
	}
	for i, e := range cfg.Encryption.Keys {
		raw, err := base64.StdEncoding.DecodeString(e.Key)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("encryption.keys[%d] (%s): want 32 bytes in standard base64", i, e.ID)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		if _, dup := k.aeads[e.ID]; dup {
			return nil, fmt.Errorf("encryption.keys[%d]: duplicate id %q", i, e.ID)
		}
		k.ids = append(k.ids, e.ID)
		k.aeads[e.ID] = aead
	}
	return k, nil
}

// Ready reports whether the keyring can encrypt.
func (k *Keyring) Ready() bool { return k != nil && len(k.ids) > 0 }

// Seal encrypts plaintext with the first entry. The key ID is bound as
// additional data, so a ciphertext cannot be replayed onto another key.
func (k *Keyring) Seal(keyID, plaintext string) (*events.Encrypted, error) {
	if !k.Ready() {
		return nil, errors.New("no keyring configured")
	}
	id := k.ids[0]
	aead := k.aeads[id]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	sealed := aead.Seal(nonce, nonce, []byte(plaintext), []byte(keyID))
	return &events.Encrypted{KeyringID: id, Ciphertext: base64.StdEncoding.EncodeToString(sealed)}, nil
}

// Open decrypts what Seal produced for keyID.
func (k *Keyring) Open(keyID, keyringID, ciphertext string) (string, error) {
	aead, ok := k.aeads[keyringID]
	if !ok {
		return "", fmt.Errorf("keyring entry %q is not configured", keyringID)
	}
	raw, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", errors.New("malformed ciphertext")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(keyID))
	if err != nil {
		return "", err
	}
	return string(plain), nil
}
