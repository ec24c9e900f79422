package keyward

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyward/keyward/keyring"
)

// Device tokens mark a browser or API client that has completed a sign-in
// to an account (OWASP's "device cookies"): its later password attempts for
// that account are counted in the device's own bucket, never by the
// per-email rule, so that guessing spread over many addresses cannot keep
// the owner out from a device he has used before.
//
// A token is stateless: "kwd_" and base64url of
//
//	key number (4, the number of the key id: k1 is 1, k2860486313 is 2860486313) | issued, unix seconds (8) | device id (16) | account id | tag (32)
//
// where tag is HMAC-SHA256 of everything before it under a subkey of the
// keyring key it names. Naming the key lets a token outlive `keys rotate`;
// once that key is retired, the token is simply untrusted, as is one that
// is expired, malformed, forged or for another account: never an error.
const (
	deviceTokenPrefix  = "kwd_"
	deviceTokenPurpose = "device-token"
	deviceIDBytes      = 16 // 128 random bits
	deviceFixedBytes   = 4 + 8 + deviceIDBytes
	// maxDeviceTokenLen bounds what is decoded: account ids are short.
	maxDeviceTokenLen = 256
)

// deviceToken is what a verified token says.
type deviceToken struct {
	accountID string
	deviceID  [deviceIDBytes]byte
}

// throttleKey is the device's own sign-in bucket.
func (d deviceToken) throttleKey() string {
	return "signin:device:" + hex.EncodeToString(d.deviceID[:])
}

// newDeviceToken issues a token for a fresh device id of the account.
func (s *Service) newDeviceToken(accountID string, now time.Time) (string, error) {
	id := s.keys.CurrentID()
	n, ok := keyring.ParseID(id)
	if !ok {
		return "", Internal(fmt.Errorf("device token: current key id %q", id))
	}
	key, err := s.keys.DeriveWith(id, deviceTokenPurpose)
	if err != nil {
		return "", Internal(fmt.Errorf("device token: %w", err))
	}
	b := make([]byte, deviceFixedBytes, deviceFixedBytes+len(accountID)+sha256.Size)
	binary.BigEndian.PutUint32(b[0:4], n)
	binary.BigEndian.PutUint64(b[4:12], uint64(now.Unix()))
	if _, err := io.ReadFull(s.rand, b[12:deviceFixedBytes]); err != nil {
		return "", Internal(fmt.Errorf("reading randomness: %w", err))
	}
	b = append(b, accountID...)
	b = append(b, deviceTag(key, b)...)
	return deviceTokenPrefix + tokenEncoding.EncodeToString(b), nil
}

// readDeviceToken returns what a token says when it is one of ours, made
// under a key still held and not expired; ok is false for anything else.
func (s *Service) readDeviceToken(token string, now time.Time) (d deviceToken, ok bool) {
	rest, found := strings.CutPrefix(token, deviceTokenPrefix)
	if !found || len(token) > maxDeviceTokenLen {
		return d, false
	}
	b, err := tokenEncoding.DecodeString(rest)
	if err != nil || len(b) <= deviceFixedBytes+sha256.Size {
		return d, false
	}
	body, tag := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	key, err := s.keys.DeriveWith(keyring.FormatID(binary.BigEndian.Uint32(body[0:4])), deviceTokenPurpose)
	if err != nil || !hmac.Equal(deviceTag(key, body), tag) {
		return d, false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(body[4:12])), 0)
	if !now.Before(issued.Add(s.cfg.DeviceTokenLifetime)) {
		return d, false
	}
	copy(d.deviceID[:], body[12:deviceFixedBytes])
	d.accountID = string(body[deviceFixedBytes:])
	return d, true
}

func deviceTag(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}
