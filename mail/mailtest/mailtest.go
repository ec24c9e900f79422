// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp) on
// loopback for tests, receiving over the wire what keyward sends, and
// reads the mails back with net/mail and mime/multipart.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shape a Server.
type Options struct {
	// STARTTLS offers STARTTLS with a certificate made for the test.
	STARTTLS bool
	// ImplicitTLS serves TLS from the first byte (smtps://).
	ImplicitTLS bool
	// User and Password, when set, require AUTH PLAIN with them.
	User, Password string
	// SMTPUTF8 advertises the extension.
	SMTPUTF8 bool
	// Refuse, when set, answers RCPT TO with its error for the addresses
	// it returns one for.
	Refuse func(to string) error
	// Delay holds every command this long (a slow server).
	Delay time.Duration
}

// Server is a running SMTP server. Its mails arrive on Mails.
type Server struct {
	Addr  string
	Pool  *x509.CertPool // trusts the server's certificate, when it has one
	opts  Options
	srv   *smtp.Server
	mu    sync.Mutex
	mails []*Received
	got   chan struct{}
}

// Received is one mail as the server took it.
type Received struct {
	From   string
	To     []string
	UTF8   bool // MAIL FROM carried SMTPUTF8
	TLS    bool // the session was encrypted
	Authed string
	Data   []byte
}

// Start runs a server on 127.0.0.1 on a free port until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{opts: o, got: make(chan struct{}, 1000)}
	s.srv = smtp.NewServer(&backend{s: s})
	s.srv.Domain = "mail.test"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.EnableSMTPUTF8 = o.SMTPUTF8
	// PLAIN over a plain connection only where the test asks for no TLS.
	s.srv.AllowInsecureAuth = !o.STARTTLS && !o.ImplicitTLS
	if o.STARTTLS || o.ImplicitTLS {
		cert, pool := certificate(t)
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.Pool = pool
	}
	var ln net.Listener
	var err error
	if o.ImplicitTLS {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", s.srv.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// URL is the --smtp-url that reaches the server.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr}
	if s.opts.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if s.opts.User != "" {
		u.User = url.UserPassword(s.opts.User, s.opts.Password)
	}
	return u.String()
}

// TLSConfig trusts the server's certificate.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.Pool, MinVersion: tls.VersionTLS12}
}

// Mails returns the mails received so far.
func (s *Server) Mails() []*Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Received(nil), s.mails...)
}

// Wait waits until n mails have arrived in all, and returns them.
func (s *Server) Wait(t testing.TB, n int, within time.Duration) []*Received {
	t.Helper()
	deadline := time.After(within)
	for {
		if m := s.Mails(); len(m) >= n {
			return m
		}
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("mailtest: got %d mails within %s, want %d", len(s.Mails()), within, n)
		}
	}
}

// WaitFor waits for a mail to to whose subject contains subject, and parses it.
func (s *Server) WaitFor(t testing.TB, to, subject string, within time.Duration) *Message {
	t.Helper()
	deadline := time.After(within)
	for {
		for _, r := range s.Mails() {
			if len(r.To) == 1 && strings.EqualFold(r.To[0], to) {
				m := Parse(t, r.Data)
				if strings.Contains(m.Subject, subject) {
					return m
				}
			}
		}
		select {
		case <-s.got:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("mailtest: no mail to %s about %q within %s (got %d mails)", to, subject, within, len(s.Mails()))
		}
	}
}

type backend struct{ s *Server }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	cur    Received
	authed string
}

func (ss *session) delay() {
	if ss.s.opts.Delay > 0 {
		time.Sleep(ss.s.opts.Delay)
	}
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.opts.User || pass != ss.s.opts.Password {
			return errors.New("invalid credentials")
		}
		ss.authed = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, o *smtp.MailOptions) error {
	ss.delay()
	if ss.s.opts.User != "" && ss.authed == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.cur = Received{From: from, UTF8: o != nil && o.UTF8, TLS: isTLS, Authed: ss.authed}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.delay()
	if ss.s.opts.Refuse != nil {
		if err := ss.s.opts.Refuse(to); err != nil {
			return err
		}
	}
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	ss.delay()
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := ss.cur
	m.Data = b
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, &m)
	ss.s.mu.Unlock()
	select {
	case ss.s.got <- struct{}{}:
	default:
	}
	return nil
}

func (ss *session) Reset()        { ss.cur = Received{} }
func (ss *session) Logout() error { return nil }

// certificate makes a self-signed certificate for 127.0.0.1 and a pool
// that trusts it.
func certificate(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mailtest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// Message is a received mail, parsed.
type Message struct {
	Header  mail.Header
	Subject string // decoded
	Text    string // the text/plain part, decoded
	HTML    string // the text/html part, decoded
}

// Parse reads raw with net/mail and mime/multipart: a multipart/alternative
// message with a text/plain and a text/html part.
func Parse(t testing.TB, raw []byte) *Message {
	t.Helper()
	m, err := ParseMessage(raw)
	if err != nil {
		t.Fatalf("mailtest: %v\n%s", err, raw)
	}
	return m
}

// ParseMessage is Parse returning its error.
func ParseMessage(raw []byte) (*Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	out := &Message{Header: msg.Header}
	dec := new(mime.WordDecoder)
	if out.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("decoding the subject: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		return nil, fmt.Errorf("content type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading a part: %w", err)
		}
		var body io.Reader = p
		// multipart.Reader decodes quoted-printable itself and drops the
		// header; base64 it leaves.
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			body = base64Reader(p)
		} else if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, fmt.Errorf("reading a part: %w", err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch pt {
		case "text/plain":
			out.Text = string(b)
		case "text/html":
			out.HTML = string(b)
		}
	}
	if out.Text == "" || out.HTML == "" {
		return nil, errors.New("the message lacks a text/plain or a text/html part")
	}
	return out, nil
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+`)

// Link returns the first link in the text part whose path ends with path
// ("/reset-password"), or fails.
func (m *Message) Link(t testing.TB, path string) string {
	t.Helper()
	for _, l := range linkRE.FindAllString(m.Text, -1) {
		u, err := url.Parse(l)
		if err == nil && strings.HasSuffix(u.Path, path) {
			return l
		}
	}
	t.Fatalf("mailtest: no %s link in the mail:\n%s", path, m.Text)
	return ""
}

// Token returns the token query parameter of the mail's path link.
func (m *Message) Token(t testing.TB, path string) string {
	t.Helper()
	u, _ := url.Parse(m.Link(t, path))
	return u.Query().Get("token")
}
