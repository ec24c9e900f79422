package password

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/trustelem/zxcvbn/frequency"
)

// BreachedChecker reports whether a password is known to attackers:
// common, or seen in a breach.
type BreachedChecker interface {
	Breached(ctx context.Context, pw string) (bool, error)
}

// set is an in-memory list of passwords.
type set struct {
	m    map[string]struct{}
	fold bool // compare lower-cased
}

func (s set) Breached(_ context.Context, pw string) (bool, error) {
	if s.fold {
		pw = strings.ToLower(pw)
	}
	_, ok := s.m[pw]
	return ok, nil
}

func (set) Close() error { return nil }

// CommonPasswords returns the 30,000 most common passwords of the zxcvbn
// frequency data, compared case-insensitively ("Password" is as guessable
// as "password"). It builds its set on each call (a few milliseconds):
// call it once at start-up.
func CommonPasswords() BreachedChecker {
	list := frequency.FrequencyLists["passwords"]
	s := set{m: make(map[string]struct{}, len(list)), fold: true}
	for _, pw := range list {
		s.m[strings.ToLower(pw)] = struct{}{}
	}
	return s
}

// maxPlainListSize bounds the plain-list format, which is loaded into
// memory; the HIBP dump (tens of GB) is searched in place instead.
const maxPlainListSize = 512 << 20

// isDumpLine reports whether line is "HEX:COUNT" with hexLen hex digits.
func isDumpLine(line []byte, hexLen int) bool {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < hexLen+2 || line[hexLen] != ':' {
		return false
	}
	for i, c := range line {
		isDigit := '0' <= c && c <= '9'
		isHex := isDigit || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
		if i < hexLen && !isHex || i > hexLen && !isDigit {
			return false
		}
	}
	return true
}

// OpenBreachedFile opens a list of breached passwords in one of two formats,
// told apart by the first line:
//
//   - the Have I Been Pwned SHA-1 dump ("SHA1HEX:COUNT" lines sorted by
//     hash, as pwned-passwords-downloader writes it), searched in place by
//     binary search, in constant memory; the file stays open until Close;
//   - a plain list, one password per line, compared exactly and loaded into
//     memory (up to 512 MiB of file); the file is closed before returning.
//
// Lines may end in LF or CRLF.
func OpenBreachedFile(path string) (BreachedChecker, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	// A first line longer than the buffer is no dump line: ErrBufferFull
	// leaves it to the plain list.
	first, err := bufio.NewReader(f).ReadSlice('\n')
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		f.Close()
		return nil, nil, err
	}
	first = bytes.TrimSuffix(first, []byte("\n"))
	switch {
	case isDumpLine(first, 40):
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		c := &hibpFile{f: f, size: fi.Size()}
		return c, c, nil
	case isDumpLine(first, 32):
		f.Close()
		return nil, nil, fmt.Errorf("password: %s: the NTLM dump is not supported, use the SHA-1 one", path)
	}
	defer f.Close()
	s, err := loadPlainList(f)
	if err != nil {
		return nil, nil, fmt.Errorf("password: %s: %w", path, err)
	}
	return s, s, nil
}

func loadPlainList(f *os.File) (set, error) {
	if fi, err := f.Stat(); err != nil {
		return set{}, err
	} else if fi.Size() > maxPlainListSize {
		return set{}, errors.New("plain list too large; use the sorted HIBP format")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return set{}, err
	}
	s := set{m: make(map[string]struct{})}
	sc := bufio.NewScanner(f) // ScanLines drops a trailing \r
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			s.m[line] = struct{}{}
		}
	}
	return s, sc.Err()
}

// hibpFile is a HIBP SHA-1 dump searched in place.
type hibpFile struct {
	f    *os.File
	size int64
}

func (h *hibpFile) Close() error { return h.f.Close() }

// Breached binary-searches the file by byte offset. The search space is the
// set of lines that start in [lo, hi): each step reads the first line that
// starts at or after the midpoint and halves the space, so a lookup in a
// 40 GB dump costs about 30 small reads.
func (h *hibpFile) Breached(_ context.Context, pw string) (bool, error) {
	sum := sha1.Sum([]byte(pw))
	var target [40]byte
	hex.Encode(target[:], sum[:])
	upper(target[:])

	var buf [256]byte // a dump line is at most ~55 bytes
	lo, hi := int64(0), h.size
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Read from mid-1 so that a line starting exactly at mid is seen
		// after the newline that ends the previous one.
		off := max(mid-1, 0)
		n, err := h.f.ReadAt(buf[:], off)
		if err != nil && err != io.EOF {
			return false, err
		}
		b := buf[:n]
		start := off
		if mid > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				if off+int64(n) < h.size {
					return false, fmt.Errorf("password: HIBP file: line too long at offset %d", off)
				}
				hi = mid // no line starts in [mid, hi)
				continue
			}
			start, b = off+int64(i)+1, b[i+1:]
		}
		if start >= hi {
			hi = mid
			continue
		}
		line := b
		next := start + int64(len(b))
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, next = b[:i], start+int64(i)+1
		} else if next < h.size {
			return false, fmt.Errorf("password: HIBP file: line too long at offset %d", start)
		}
		if len(line) < 41 || line[40] != ':' {
			return false, fmt.Errorf("password: HIBP file: malformed line at offset %d", start)
		}
		hash := line[:40]
		upper(hash)
		switch c := bytes.Compare(hash, target[:]); {
		case c == 0:
			return true, nil
		case c < 0:
			lo = next
		default:
			hi = start
		}
	}
	return false, nil
}

// upper turns lower-case hex into upper case in place, so that a dump in
// either case compares against the same target (0-9 sort before a-f and A-F
// alike, so the order is the same).
func upper(b []byte) {
	for i, c := range b {
		if 'a' <= c && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
}

// HIBPBaseURL is the public Pwned Passwords API.
const HIBPBaseURL = "https://api.pwnedpasswords.com"

// maxRangeBody bounds a range response; real ones are about 40 KB.
const maxRangeBody = 4 << 20

type hibpRange struct {
	base    string
	client  *http.Client
	timeout time.Duration
}

// NewHIBPRange returns a checker that asks the Pwned Passwords range API
// (k-anonymity: only the first 5 hex digits of the password's SHA-1 leave
// the server) at baseURL, e.g. HIBPBaseURL. A nil client means a new
// http.Client; a timeout > 0 bounds each request. Responses are padded
// (Add-Padding) so their size does not hint at the prefix; padding lines
// have count 0 and are ignored.
func NewHIBPRange(baseURL string, client *http.Client, timeout time.Duration) BreachedChecker {
	if client == nil {
		client = &http.Client{}
	}
	return &hibpRange{base: strings.TrimSuffix(baseURL, "/"), client: client, timeout: timeout}
}

func (r *hibpRange) Breached(ctx context.Context, pw string) (bool, error) {
	sum := sha1.Sum([]byte(pw))
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := h[:5], h[5:]
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/range/"+prefix, nil)
	if err != nil {
		// Not err itself: it quotes the URL, hash prefix included.
		return false, fmt.Errorf("password: HIBP range: invalid base URL %q", r.base)
	}
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", "keyward")
	resp, err := r.client.Do(req)
	if err != nil {
		// Drop the URL: it holds the hash prefix, which has no place in logs.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return false, fmt.Errorf("password: HIBP range: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("password: HIBP range: status %s", resp.Status)
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, maxRangeBody))
	for sc.Scan() {
		s, count, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.EqualFold(s, suffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(count), 10, 64)
		if err != nil {
			return false, fmt.Errorf("password: HIBP range: malformed count")
		}
		if n > 0 {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("password: HIBP range: %w", err)
	}
	return false, nil
}
