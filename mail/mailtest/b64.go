package mailtest

import (
	"encoding/base64"
	"io"
	"strings"
)

// base64Reader decodes a base64 body broken into lines.
func base64Reader(r io.Reader) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, &skipNewlines{r: r})
}

type skipNewlines struct{ r io.Reader }

func (s *skipNewlines) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	kept := strings.NewReplacer("\r", "", "\n", "").Replace(string(p[:n]))
	copy(p, kept)
	return len(kept), err
}
