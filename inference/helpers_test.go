package inference_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

const plantedDir = "testdata/planted"

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// loadPlanted loads the planted test model and closes it when the test ends.
func loadPlanted(t testing.TB, opts inference.Options) *inference.Model {
	t.Helper()
	testenv.RequireRuntime(t)
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	m, err := inference.LoadDir(plantedDir, opts)
	if err != nil {
		t.Fatalf("loading planted model: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// copyPlanted copies the planted model into a temp dir so a test can damage it.
func copyPlanted(t testing.TB) string { return testenv.CopyDir(t, plantedDir) }

// copyModel copies a model folder into a temp dir so a test can damage it.
func copyModel(t testing.TB, src string) string { return testenv.CopyDir(t, src) }
