package keyring

import (
	"testing"

	"github.com/keyline/keyline/configs"
)

func TestKeyringRotation(t *testing.T) {
	const k1, k2 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
	old, err := New(&configs.Config{Encryption: &configs.Encryption{Keys: []configs.EncryptionKey{{ID: "k1", Key: k1}}}})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := old.Seal("key_1", "secret")
	if err != nil || sealed.KeyringID != "k1" {
		t.Fatalf("seal: %+v %v", sealed, err)
	}
	rotated, err := New(&configs.Config{Encryption: &configs.Encryption{Keys: []configs.EncryptionKey{{ID: "k2", Key: k2}, {ID: "k1", Key: k1}}}})
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := rotated.Open("key_1", sealed.KeyringID, sealed.Ciphertext); err != nil || plain != "secret" {
		t.Fatalf("open after rotation: %q %v", plain, err)
	}
	if s, _ := rotated.Seal("key_1", "x"); s.KeyringID != "k2" {
		t.Fatalf("new seals use the first entry, got %s", s.KeyringID)
	}
	if _, err := rotated.Open("key_2", sealed.KeyringID, sealed.Ciphertext); err == nil {
		t.Fatal("a ciphertext opened under another key ID")
	}
	if _, err := New(&configs.Config{Encryption: &configs.Encryption{Keys: []configs.EncryptionKey{{ID: "bad", Key: "c2hvcnQ="}}}}); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
	if (&Keyring{}).Ready() {
		t.Fatal("an empty keyring claims to be ready")
	}
}
