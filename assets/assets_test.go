package assets

import (
	"io/fs"
	"testing"
)

// maxEmbeddedBytes bounds the binary's embedded models: the default and the
// older models kept for their share links (slimmed with `ganpaint slim`).
const maxEmbeddedBytes = 40 << 20

func TestEmbeddedSize(t *testing.T) {
	var total int64
	perModel := map[string]int64{}
	err := fs.WalkDir(FS(), "models", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		if parts := splitModel(path); parts != "" {
			perModel[parts] += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range perModel {
		t.Logf("%s: %.1f MB", name, float64(n)/(1<<20))
	}
	if total > maxEmbeddedBytes {
		t.Errorf("embedded models take %.1f MB, more than %d MB: slim the older models (ganpaint slim) or drop one", float64(total)/(1<<20), maxEmbeddedBytes>>20)
	}
	if total == 0 {
		t.Error("no embedded model files")
	}
}

// splitModel is the model folder of an embedded path.
func splitModel(path string) string {
	const prefix = "models/"
	if len(path) <= len(prefix) {
		return ""
	}
	rest := path[len(prefix):]
	for i := range len(rest) {
		if rest[i] == '/' {
			return rest[:i]
		}
	}
	return ""
}

func TestModelNames(t *testing.T) {
	names, err := ModelNames()
	if err != nil {
		t.Fatal(err)
	}
	if names[0] != DefaultModelName {
		t.Errorf("ModelNames() = %v, want %s first", names, DefaultModelName)
	}
	for _, n := range names {
		if _, err := Model(n); err != nil {
			t.Errorf("Model(%q): %v", n, err)
		}
	}
	if _, err := Model("no-such-model"); err == nil {
		t.Error("Model(no-such-model) succeeded")
	}
}
