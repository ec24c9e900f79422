package mail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	gomail "github.com/wneessen/go-mail"
)

// Folder writes each mail as an .eml file, named by its outbox id, into
// Dir: what a person trying keyward out without a mail server opens in a
// mail program. A mail written again (delivery is at least once) replaces
// its own file.
type Folder struct {
	Dir string
}

// Describe says where the files go.
func (f Folder) Describe() string { return "mails are written as .eml files to " + f.Dir }

// Deliver writes m to Dir/<id>.eml, readable by its owner only (a link in
// it opens the account), through a temporary file so that no reader sees
// half a mail.
func (f Folder) Deliver(_ context.Context, id string, m *gomail.Msg) error {
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return fmt.Errorf("creating the outbox folder: %w", err)
	}
	tmp, err := os.CreateTemp(f.Dir, ".writing-*")
	if err != nil {
		return fmt.Errorf("writing a mail: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := m.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing a mail: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing a mail: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(f.Dir, id+".eml")); err != nil {
		return fmt.Errorf("writing a mail: %w", err)
	}
	return nil
}
