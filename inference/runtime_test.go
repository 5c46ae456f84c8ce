package inference_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

func TestResolveLibraryOrder(t *testing.T) {
	root := t.TempDir()
	// A fake module with .ort/ at its root and a nested package folder.
	writeAt := func(p string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not really a library"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeAt(filepath.Join(root, "go.mod"))
	ortLib := writeAt(filepath.Join(root, ".ort", "libonnxruntime.so.1"))
	nested := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	flagLib := writeAt(filepath.Join(root, "flag", "libonnxruntime.so"))
	envLib := writeAt(filepath.Join(root, "env", "libonnxruntime.so"))
	t.Chdir(nested)

	t.Setenv(inference.EnvLibrary, envLib)
	if got, err := inference.ResolveLibrary(flagLib); err != nil || got != flagLib {
		t.Errorf("flag: got %q, %v; want %q", got, err, flagLib)
	}
	if got, err := inference.ResolveLibrary(""); err != nil || got != envLib {
		t.Errorf("env: got %q, %v; want %q", got, err, envLib)
	}
	t.Setenv(inference.EnvLibrary, "")
	if got, err := inference.ResolveLibrary(""); err != nil || got != ortLib {
		t.Errorf(".ort in a parent up to go.mod: got %q, %v; want %q", got, err, ortLib)
	}
	for name, call := range map[string]func() error{
		"missing flag": func() error { _, err := inference.ResolveLibrary(filepath.Join(root, "nope.so")); return err },
		"missing env": func() error {
			t.Setenv(inference.EnvLibrary, filepath.Join(root, "nope.so"))
			defer t.Setenv(inference.EnvLibrary, "")
			_, err := inference.ResolveLibrary("")
			return err
		},
	} {
		err := call()
		if !errors.Is(err, inference.ErrNoRuntime) {
			t.Fatalf("%s: error = %v, want ErrNoRuntime", name, err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "fetch-ort.sh") || !strings.Contains(msg, "nope.so") {
			t.Errorf("%s: message must be one line naming the path and how to get the library: %q", name, msg)
		}
	}
}

func TestInitRuntime(t *testing.T) {
	testenv.RequireRuntime(t)
	lib, err := inference.ResolveLibrary("")
	if err != nil {
		t.Fatal(err)
	}
	if err := inference.InitRuntime(lib); err != nil {
		t.Fatalf("second init with the same library: %v", err)
	}
	if err := inference.InitRuntime(""); err != nil {
		t.Fatalf("init with no path once initialised: %v", err)
	}
	other := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := inference.InitRuntime(other); !errors.Is(err, inference.ErrNoRuntime) {
		t.Fatalf("switching libraries: error = %v, want ErrNoRuntime", err)
	}
	if inference.RuntimeVersion() == "" {
		t.Error("RuntimeVersion is empty after init")
	}
}

// A file that is not a shared library must give ErrNoRuntime, not a crash.
// The runtime loads once per process, so the check runs in a child process.
func TestInitRuntimeRejectsJunkLibrary(t *testing.T) {
	if junk := os.Getenv("GANPAINT_TEST_JUNK_LIB"); junk != "" {
		err := inference.InitRuntime(junk)
		if !errors.Is(err, inference.ErrNoRuntime) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("junk library: error = %q, want one line wrapping ErrNoRuntime", err)
		}
		if _, err := inference.Load(os.DirFS(plantedDir), inference.Options{Logger: quietLogger()}); !errors.Is(err, inference.ErrNoRuntime) {
			t.Fatalf("Load after a failed init: error = %v, want ErrNoRuntime", err)
		}
		return
	}
	junk := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(junk, []byte("\x7fELF but not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitRuntimeRejectsJunkLibrary$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GANPAINT_TEST_JUNK_LIB="+junk, inference.EnvLibrary+"="+junk)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process failed: %v\n%s", err, out)
	}
}
