package testenv_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// recorder is a testing.TB that records how a helper ended the test.
type recorder struct {
	testing.TB
	ended string // "fatal", "skip" or ""
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	if r.ended == "" {
		r.ended = "fatal: " + fmt.Sprintf(format, args...)
	}
}
func (r *recorder) Skipf(format string, args ...any) {
	if r.ended == "" {
		r.ended = "skip: " + fmt.Sprintf(format, args...)
	}
}

func TestRequireRuntimeWithoutLibrary(t *testing.T) {
	tests := []struct {
		name, require, ci string
		want              string
	}{
		{"bare go test", "", "", "skip"},
		{"make test", "1", "", "fatal"},
		{"CI", "", "true", "fatal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A library path that does not exist, as a stale shell variable
			// would give: ResolveLibrary reports it instead of falling back.
			t.Setenv("ONNXRUNTIME_LIB", filepath.Join(t.TempDir(), "libonnxruntime.so.1"))
			t.Setenv(testenv.EnvRequireRuntime, tc.require)
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			testenv.RequireRuntime(r)
			if len(r.ended) < len(tc.want) || r.ended[:len(tc.want)] != tc.want {
				t.Errorf("ended %q, want %s", r.ended, tc.want)
			}
		})
	}
}
