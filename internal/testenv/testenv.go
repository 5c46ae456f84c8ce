// Package testenv holds the set-up that tests of several packages share:
// ONNX Runtime for model-backed tests and scratch copies of model folders.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
)

// PlantedModel is the absolute path of the planted test model
// (inference/testdata/planted), whatever the calling package's folder.
func PlantedModel() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "inference", "testdata", "planted")
}

// EnvRequireRuntime set to 1 makes a missing ONNX Runtime fail the model
// tests instead of skipping them; `make test`, which provisions the
// library, sets it, as CI=true does.
const EnvRequireRuntime = "GANPAINT_REQUIRE_RUNTIME"

// RequireRuntime initialises ONNX Runtime for a test. Without the library the
// test fails under `make test` and CI, and is skipped elsewhere (a bare
// `go test`) so pure-Go work is not blocked.
func RequireRuntime(t testing.TB) {
	t.Helper()
	lib, err := inference.ResolveLibrary("")
	if err == nil {
		err = inference.InitRuntime(lib)
	}
	if err != nil {
		if RuntimeRequired() {
			t.Fatalf("ONNX Runtime is required here (%s=1 or CI=true): %v", EnvRequireRuntime, err)
		}
		t.Skipf("ONNX Runtime not available: %v", err)
	}
}

// RuntimeRequired says whether a missing ONNX Runtime is a failure.
func RuntimeRequired() bool {
	return os.Getenv(EnvRequireRuntime) == "1" || os.Getenv("CI") == "true"
}

// CopyDir copies a model folder into a temporary one, so a test can write
// into it (a dissection) or damage it.
func CopyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
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
