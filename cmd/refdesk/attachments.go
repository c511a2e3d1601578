package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"refdesk/store"
)

// saveAttachments writes attachments into dir as 0600 files. The names come
// from the email, so they are made safe: no directories, no "..", no
// control or path characters, never an existing file (a number is added).
func (a *app) saveAttachments(ctx context.Context, st *store.Store, atts []store.Attachment, dir string) error {
	if len(atts) == 0 {
		fmt.Fprintln(a.out, "no attachments")
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	used := map[string]bool{}
	for _, at := range atts {
		base := safeFileName(at.Filename, at.ContentType, at.Ref())
		name := base
		for n := 2; ; n++ {
			if !used[strings.ToLower(name)] {
				path := filepath.Join(dir, name)
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err == nil {
					// Copied from the database a chunk at a time.
					_, werr := st.WriteAttachment(ctx, at.ID, f)
					cerr := f.Close()
					if werr != nil || cerr != nil {
						os.Remove(path) // no half a file
						return errors.Join(werr, cerr)
					}
					break
				}
				if !errors.Is(err, fs.ErrExist) {
					return err
				}
			}
			ext := filepath.Ext(base)
			name = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(base, ext), n, ext)
		}
		used[strings.ToLower(name)] = true
		fmt.Fprintf(a.out, "%s  %s\n", at.Ref(), filepath.Join(dir, name))
	}
	return nil
}

// safeFileName makes a file name from what an email calls an attachment:
// the last path element only, no leading dots, no control, path or shell
// characters, at most 100 bytes; a name from the reference and media type
// when nothing is left.
func safeFileName(name, contentType, ref string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case r < 32 || r == 127 || unicode.IsControl(r):
			return -1
		case strings.ContainsRune(`<>:"|?*/\`+"`$", r):
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	name = strings.TrimSpace(name)
	if len(name) > 100 {
		ext := filepath.Ext(name)
		if len(ext) > 10 {
			ext = ""
		}
		name = strings.ToValidUTF8(name[:100-len(ext)], "") + ext
	}
	if name == "" || name == "." || name == ".." {
		ext := ".bin"
		if exts, _ := mime.ExtensionsByType(contentType); len(exts) > 0 {
			ext = exts[0]
		}
		if contentType == "message/rfc822" {
			ext = ".eml"
		}
		name = ref + ext
	}
	return name
}

// byteSize is a size for people: "12 KB".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", (n+512)>>10)
	}
	return fmt.Sprintf("%d B", n)
}
