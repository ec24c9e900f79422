package keyward_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// softKey is an attacker's authenticator: an ECDSA P-256 key that answers
// any challenge of any relying party with whatever flags and counter the
// test sets, attestation "none". It makes what Chromium would, and what
// Chromium never would.
type softKey struct {
	key     *ecdsa.PrivateKey
	id      []byte // credential id
	handle  []byte // the user handle it answers with
	origin  string
	rpID    string
	counter uint32
	flags   byte // of assertions: up 0x01, uv 0x04, be 0x08, bs 0x10
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func newSoftKey(t testing.TB, origin, rpID string, handle []byte) *softKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softKey{key: k, id: id, handle: handle, origin: origin, rpID: rpID, flags: flagUP | flagUV}
}

var b64 = base64.RawURLEncoding

// CBOR, by hand: only what an attestation "none" and a COSE key need.
func cborHead(major byte, n int) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 256:
		return []byte{major<<5 | 24, byte(n)}
	default:
		return []byte{major<<5 | 25, byte(n >> 8), byte(n)}
	}
}
func cborBytes(b []byte) []byte { return append(cborHead(2, len(b)), b...) }
func cborText(s string) []byte  { return append(cborHead(3, len(s)), s...) }
func cborInt(n int) []byte {
	if n < 0 {
		return cborHead(1, -1-n)
	}
	return cborHead(0, n)
}

func (k *softKey) coseKey() []byte {
	raw, err := k.key.PublicKey.Bytes() // 0x04, X, Y
	if err != nil {
		panic(err)
	}
	x, y := raw[1:33], raw[33:65]
	out := cborHead(5, 5)
	out = append(out, cborInt(1)...)
	out = append(out, cborInt(2)...) // kty EC2
	out = append(out, cborInt(3)...)
	out = append(out, cborInt(-7)...) // alg ES256
	out = append(out, cborInt(-1)...)
	out = append(out, cborInt(1)...) // crv P-256
	out = append(out, cborInt(-2)...)
	out = append(out, cborBytes(x)...)
	out = append(out, cborInt(-3)...)
	out = append(out, cborBytes(y)...)
	return out
}

func (k *softKey) authData(flags byte, attested bool) []byte {
	rp := sha256.Sum256([]byte(k.rpID))
	out := append([]byte{}, rp[:]...)
	if attested {
		flags |= flagAT
	}
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, k.counter)
	if attested {
		out = append(out, make([]byte, 16)...) // aaguid
		out = binary.BigEndian.AppendUint16(out, uint16(len(k.id)))
		out = append(out, k.id...)
		out = append(out, k.coseKey()...)
	}
	return out
}

func (k *softKey) clientData(typ string, challenge []byte) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": b64.EncodeToString(challenge), "origin": k.origin, "crossOrigin": false})
	return b
}

// register answers creation options whose challenge is challenge.
func (k *softKey) register(challenge []byte) []byte {
	att := cborHead(5, 3)
	att = append(att, cborText("fmt")...)
	att = append(att, cborText("none")...)
	att = append(att, cborText("attStmt")...)
	att = append(att, cborHead(5, 0)...)
	att = append(att, cborText("authData")...)
	att = append(att, cborBytes(k.authData(k.flags, true))...)
	b, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(k.clientData("webauthn.create", challenge)), "attestationObject": b64.EncodeToString(att),
			"transports": []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	return b
}

// assert answers request options whose challenge is challenge, with the
// key's counter and flags as they are.
func (k *softKey) assert(t testing.TB, challenge []byte) []byte {
	t.Helper()
	ad := k.authData(k.flags, false)
	cd := k.clientData("webauthn.get", challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.handle),
		},
		"clientExtensionResults": map[string]any{},
	})
	return b
}

// challengeOf reads the challenge out of options JSON.
func challengeOf(t testing.TB, options []byte) []byte {
	t.Helper()
	var o struct {
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	c, err := b64.DecodeString(o.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
