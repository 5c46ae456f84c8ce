package inference

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// EnvLibrary is the environment variable that points at the ONNX Runtime
// shared library when no flag is given.
const EnvLibrary = "ONNXRUNTIME_LIB"

// ortDirName is the git-ignored folder scripts/fetch-ort.sh fills.
const ortDirName = ".ort"

// libraryNames are tried inside each candidate folder, most specific first.
var libraryNames = []string{"libonnxruntime.so.1", "libonnxruntime.so"}

// systemLibraryDirs are the last resort, where distribution packages install it.
var systemLibraryDirs = []string{"/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib/x86_64-linux-gnu"}

const howToGetRuntime = "run `make ort` (or scripts/fetch-ort.sh), or pass --ort-lib PATH / set " + EnvLibrary

// ResolveLibrary finds the ONNX Runtime shared library. Order: flagValue, then
// $ONNXRUNTIME_LIB, then .ort/ in the working directory, the executable's
// directory and their parents up to the enclosing Go module root, then system
// library folders. An explicit flag or environment value that does not exist
// is an error rather than a silent fallback, so a typo is noticed. The error
// is one line saying how to get the library and wraps ErrNoRuntime.
func ResolveLibrary(flagValue string) (string, error) {
	if flagValue != "" {
		if fileExists(flagValue) {
			return flagValue, nil
		}
		return "", fmt.Errorf("%w: --ort-lib %q does not exist; %s", ErrNoRuntime, flagValue, howToGetRuntime)
	}
	if env := os.Getenv(EnvLibrary); env != "" {
		if fileExists(env) {
			return env, nil
		}
		return "", fmt.Errorf("%w: %s=%q does not exist; %s", ErrNoRuntime, EnvLibrary, env, howToGetRuntime)
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		starts = append(starts, filepath.Dir(exe))
	}
	for _, start := range starts {
		for _, dir := range upToModuleRoot(start) {
			if p, ok := findIn(filepath.Join(dir, ortDirName)); ok {
				return p, nil
			}
		}
	}
	for _, dir := range systemLibraryDirs {
		if p, ok := findIn(dir); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: libonnxruntime not found; %s", ErrNoRuntime, howToGetRuntime)
}

// upToModuleRoot lists start and its parents, stopping at the first folder
// holding go.mod (inclusive) or at the filesystem root.
func upToModuleRoot(start string) []string {
	var dirs []string
	dir := filepath.Clean(start)
	for {
		dirs = append(dirs, dir)
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dirs
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dirs
		}
		dir = parent
	}
}

func findIn(dir string) (string, bool) {
	for _, name := range libraryNames {
		p := filepath.Join(dir, name)
		if fileExists(p) {
			return p, true
		}
	}
	return "", false
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// runtimeState guards the process-wide ONNX Runtime environment: the library
// can be loaded only once per process.
var runtimeState struct {
	mu   sync.Mutex
	path string
}

// InitRuntime loads the ONNX Runtime shared library at libPath and creates the
// process-wide environment. Calling it again with the same path (or with ""
// once initialised) is a no-op; a different path is an error because a
// process cannot swap the library. A failed attempt may be retried.
func InitRuntime(libPath string) error {
	runtimeState.mu.Lock()
	defer runtimeState.mu.Unlock()
	if ort.IsInitialized() {
		if libPath == "" || sameFile(libPath, runtimeState.path) {
			return nil
		}
		return fmt.Errorf("%w: onnx runtime already initialised from %q, cannot switch to %q", ErrNoRuntime, runtimeState.path, libPath)
	}
	if libPath == "" {
		return fmt.Errorf("%w: no library path given; %s", ErrNoRuntime, howToGetRuntime)
	}
	if !fileExists(libPath) {
		return fmt.Errorf("%w: %q does not exist; %s", ErrNoRuntime, libPath, howToGetRuntime)
	}
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("%w: loading %q: %v; %s", ErrNoRuntime, libPath, err, howToGetRuntime)
	}
	// Telemetry is off by default on Linux builds; an error here only means the
	// build has no telemetry switch, which is harmless.
	_ = ort.DisableTelemetry()
	runtimeState.path = libPath
	return nil
}

// RuntimeLibrary is the path InitRuntime loaded, or "" before it.
func RuntimeLibrary() string {
	runtimeState.mu.Lock()
	defer runtimeState.mu.Unlock()
	return runtimeState.path
}

// RuntimeVersion reports the loaded ONNX Runtime version, or "" before InitRuntime.
func RuntimeVersion() string {
	if !ort.IsInitialized() {
		return ""
	}
	return ort.GetVersion()
}

// ensureRuntime initialises the runtime for Load when the caller has not.
func ensureRuntime(libFlag string) error {
	if ort.IsInitialized() {
		return nil
	}
	p, err := ResolveLibrary(libFlag)
	if err != nil {
		return err
	}
	return InitRuntime(p)
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}
