package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// TestMain lets a test run the binary's main in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("GANPAINT_TEST_MAIN") == "1" {
		os.Exit(runMain(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// ganpaintProcess runs `ganpaint args...` as a child process.
func ganpaintProcess(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GANPAINT_TEST_MAIN=1")
	return cmd
}

// TestShardedDissectMatchesSingleRun: four shard processes per round and
// the two merges write the same results as one `ganpaint dissect`.
func TestShardedDissectMatchesSingleRun(t *testing.T) {
	testenv.RequireRuntime(t)
	single := testenv.CopyDir(t, dissectPlantedDir)
	sharded := testenv.CopyDir(t, dissectPlantedDir)
	parts := t.TempDir()
	common := []string{"--layers", "layer2,layer3", "--samples", "64", "--threshold", "quantile",
		"--causal-samples", "0", "--workers", "1", "--quiet"}
	var out bytes.Buffer
	if code := runMain(context.Background(), append([]string{"dissect", "--model", single}, common...), &out, &out); code != 0 {
		t.Fatalf("single run: %s", out.String())
	}
	round := func(stage string) {
		var wg sync.WaitGroup
		errs := make([]string, 4)
		for i := 0; i < 4; i++ {
			args := []string{"dissect", "--model", sharded, "--shard", fmt.Sprintf("%d/4", i), "--stage", stage, "--parts", parts}
			if stage == "quantiles" {
				args = append(args, common...)
			} else {
				args = append(args, "--workers", "1", "--quiet")
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if b, err := ganpaintProcess(t, args...).CombinedOutput(); err != nil {
					errs[i] = fmt.Sprintf("shard %d: %v\n%s", i, err, b)
				}
			}()
		}
		wg.Wait()
		for _, e := range errs {
			if e != "" {
				t.Fatal(e)
			}
		}
	}
	merge := func(args ...string) string {
		var o bytes.Buffer
		if code := runMain(context.Background(), append([]string{"dissect", "merge", "--parts", parts}, args...), &o, &o); code != 0 {
			t.Fatalf("merge %v: %s", args, o.String())
		}
		return o.String()
	}
	round("quantiles")
	if o := merge(); !strings.Contains(o, "merged 4 quantile parts") {
		t.Errorf("first merge: %s", o)
	}
	round("counts")
	if o := merge("--model", sharded, "--quiet"); !strings.Contains(o, "merged 4 count parts") {
		t.Errorf("second merge: %s", o)
	}

	a, err := dissection.Load(os.DirFS(single))
	if err != nil {
		t.Fatal(err)
	}
	b, err := dissection.Load(os.DirFS(sharded))
	if err != nil {
		t.Fatal(err)
	}
	for name, la := range a.Layers {
		lb := b.Layers[name]
		if lb == nil {
			t.Fatalf("sharded run lacks layer %s", name)
		}
		for u := range la.Units {
			x, y := la.Units[u], lb.Units[u]
			if x.Threshold != y.Threshold || x.Level != y.Level || x.Label != y.Label || !slices.Equal(x.ClassIoU, y.ClassIoU) ||
				!slices.Equal(x.TopIDs, y.TopIDs) {
				t.Errorf("%s unit %d:\n single  %+v\n sharded %+v", name, u, x, y)
			}
		}
		for class, r := range la.Rankings {
			if !slices.Equal(r, lb.Rankings[class]) {
				t.Errorf("%s %s ranking %v, single run %v", name, class, lb.Rankings[class], r)
			}
		}
	}
}

func TestDissectShardRejects(t *testing.T) {
	testenv.RequireRuntime(t)
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"bad shard", []string{"dissect", "--model", dissectPlantedDir, "--shard", "4/4", "--parts", dir}, "--shard \"4/4\""},
		{"no parts folder", []string{"dissect", "--model", dissectPlantedDir, "--shard", "0/2", "--samples", "4"}, "--parts"},
		{"counts before thresholds", []string{"dissect", "--model", dissectPlantedDir, "--shard", "0/2", "--stage", "counts", "--parts", dir, "--samples", "4"}, "merged thresholds"},
		{"merge of nothing", []string{"dissect", "merge", "--parts", dir}, "no quantiles-I-of-N.part"},
		{"round 2 merge before round 2", []string{"dissect", "merge", "--parts", dir, "--model", dissectPlantedDir}, "round 2 has not run"},
		{"merge without parts", []string{"dissect", "merge"}, "--parts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var o bytes.Buffer
			if code := runMain(context.Background(), c.args, &o, &o); code == 0 || !strings.Contains(o.String(), c.want) {
				t.Errorf("exit %d, output %q, want %q", code, o.String(), c.want)
			}
		})
	}

}
