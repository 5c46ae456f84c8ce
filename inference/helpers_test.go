package inference

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

const plantedDir = "testdata/planted"

// requireRuntime initialises ONNX Runtime for a test. Without the library the
// test fails under CI (CI=true), where `make test` provisions it, and is
// skipped elsewhere so pure-Go work is not blocked.
func requireRuntime(t testing.TB) {
	t.Helper()
	lib, err := ResolveLibrary("")
	if err == nil {
		err = InitRuntime(lib)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ONNX Runtime is required under CI: %v", err)
		}
		t.Skipf("ONNX Runtime not available: %v", err)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// loadPlanted loads the planted test model and closes it when the test ends.
func loadPlanted(t testing.TB, opts Options) *Model {
	t.Helper()
	requireRuntime(t)
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	m, err := LoadDir(plantedDir, opts)
	if err != nil {
		t.Fatalf("loading planted model: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// copyPlanted copies the planted model into a temp dir so a test can damage it.
func copyPlanted(t testing.TB) string { return copyModel(t, plantedDir) }

// copyModel copies a model folder into a temp dir so a test can damage it.
func copyModel(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
