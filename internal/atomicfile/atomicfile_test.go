package atomicfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ganpaint-go/ganpaint/internal/atomicfile"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.json")
	if err := atomicfile.WriteBytes(path, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := atomicfile.Write(path, func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed write: %v, want boom", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "one\n" {
		t.Errorf("after a failed write the file is %q, %v; want the old one", got, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", st.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, "missing", "b"), nil); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}
