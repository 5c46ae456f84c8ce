package inference

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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

	t.Setenv(EnvLibrary, envLib)
	if got, err := ResolveLibrary(flagLib); err != nil || got != flagLib {
		t.Errorf("flag: got %q, %v; want %q", got, err, flagLib)
	}
	if got, err := ResolveLibrary(""); err != nil || got != envLib {
		t.Errorf("env: got %q, %v; want %q", got, err, envLib)
	}
	t.Setenv(EnvLibrary, "")
	if got, err := ResolveLibrary(""); err != nil || got != ortLib {
		t.Errorf(".ort in a parent up to go.mod: got %q, %v; want %q", got, err, ortLib)
	}
	for name, call := range map[string]func() error{
		"missing flag": func() error { _, err := ResolveLibrary(filepath.Join(root, "nope.so")); return err },
		"missing env": func() error {
			t.Setenv(EnvLibrary, filepath.Join(root, "nope.so"))
			defer t.Setenv(EnvLibrary, "")
			_, err := ResolveLibrary("")
			return err
		},
	} {
		err := call()
		if !errors.Is(err, ErrNoRuntime) {
			t.Fatalf("%s: error = %v, want ErrNoRuntime", name, err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "fetch-ort.sh") || !strings.Contains(msg, "nope.so") {
			t.Errorf("%s: message must be one line naming the path and how to get the library: %q", name, msg)
		}
	}
}

func TestResolveLibraryStopsAtModuleRoot(t *testing.T) {
	outer := t.TempDir()
	// .ort above the module root must not be picked up.
	if err := os.MkdirAll(filepath.Join(outer, ".ort"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outer, ".ort", "libonnxruntime.so.1"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(outer, "mod")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirs := upToModuleRoot(filepath.Join(mod, "pkg"))
	if len(dirs) != 2 || dirs[1] != mod {
		t.Fatalf("upToModuleRoot = %v, want [pkg, module root]", dirs)
	}
}

func TestInitRuntime(t *testing.T) {
	requireRuntime(t)
	lib, err := ResolveLibrary("")
	if err != nil {
		t.Fatal(err)
	}
	if err := InitRuntime(lib); err != nil {
		t.Fatalf("second init with the same library: %v", err)
	}
	if err := InitRuntime(""); err != nil {
		t.Fatalf("init with no path once initialised: %v", err)
	}
	other := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := InitRuntime(other); !errors.Is(err, ErrNoRuntime) {
		t.Fatalf("switching libraries: error = %v, want ErrNoRuntime", err)
	}
	if RuntimeVersion() == "" {
		t.Error("RuntimeVersion is empty after init")
	}
}

// A file that is not a shared library must give ErrNoRuntime, not a crash.
// The runtime loads once per process, so the check runs in a child process.
func TestInitRuntimeRejectsJunkLibrary(t *testing.T) {
	if junk := os.Getenv("GANPAINT_TEST_JUNK_LIB"); junk != "" {
		err := InitRuntime(junk)
		if !errors.Is(err, ErrNoRuntime) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("junk library: error = %q, want one line wrapping ErrNoRuntime", err)
		}
		if _, err := Load(os.DirFS(plantedDir), Options{Logger: quietLogger()}); !errors.Is(err, ErrNoRuntime) {
			t.Fatalf("Load after a failed init: error = %v, want ErrNoRuntime", err)
		}
		return
	}
	junk := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(junk, []byte("\x7fELF but not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitRuntimeRejectsJunkLibrary$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GANPAINT_TEST_JUNK_LIB="+junk, EnvLibrary+"="+junk)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process failed: %v\n%s", err, out)
	}
}
