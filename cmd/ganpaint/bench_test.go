package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

const tinyModelDir = "../../inference/testdata/proggan_tiny"

func TestBench(t *testing.T) {
	testenv.RequireRuntime(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"planted, no declared locality", []string{"--model", plantedModelDir},
			[]string{"model planted", "layer layer2", "frames PNG", "regenerate from z", "region tail, 4-cell brush", "100%", "p50", "speed-up"}},
		{"proggan_tiny, region tail", []string{"--model", tinyModelDir, "--layer", "layer4", "--brushes", "1,4", "--format", "jpeg"},
			[]string{"model proggan_tiny", "layer layer4", "frames JPEG quality 90", "region tail, 1-cell brush", "speed-up"}},
		{"a variant model", []string{"--model", tinyModelDir, "--brushes", "4", "--variant", "same=" + tinyModelDir, "--psnr-images", "3"},
			[]string{"full tail [same]", "region tail, 4-cell brush [same]", "[same] against proggan_tiny: PSNR +Inf dB over 3 images"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout bytes.Buffer
			args := append(tc.args, "--rounds", "2", "--strokes", "4", "--warmup", "1")
			if err := runBench(context.Background(), args, &stdout, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.want {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("bench output lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
	for _, args := range [][]string{
		{"--strokes", "0"}, {"--quality", "101"}, {"--layer", "nope"}, {"--brushes", "3"}, {"--brushes", "1,x"},
		{"--brushes", "81"}, {"--rounds", "0"}, {"--format", "gif"}, {"--variant", "nodir"}, {"--variant", "x=" + tinyModelDir}, {"--compare-torch", "--torch-script", "no/such/script.py"},
	} {
		if err := runBench(context.Background(), append([]string{"--model", plantedModelDir}, args...), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("bench %v accepted", args)
		}
	}
}

// TestBenchCompareTorchProtocol drives --compare-torch against a stand-in
// for training/torch_regen.py (a shell script answering the protocol with
// canned lines), so the Go side's protocol handling is tested without torch.
func TestBenchCompareTorchProtocol(t *testing.T) {
	testenv.RequireRuntime(t)
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	img := base64.StdEncoding.EncodeToString(make([]byte, 4*3*32*32)) // planted: 32×32, all zeros
	script := fmt.Sprintf(`while IFS= read -r line; do
case "$line" in
*'"init"'*) echo '{"ok": true, "torch": "fake", "variants": ["fake"], "tail_macs": 1000000, "total_macs": 2000000, "peak_gflops": 100, "peak_how": "canned"}' ;;
*'"stroke"'*) echo '{"ok": true, "cpu_ns": 5000000, "wall_ns": 6000000}' ;;
*'"image"'*) echo '{"ok": true, "shape": [1, 3, 32, 32], "data": "%s"}' ;;
*'"quit"'*) echo '{"ok": true}'; exit 0 ;;
*) echo '{"ok": true}' ;;
esac
done
`, img)
	path := filepath.Join(t.TempDir(), "fake_torch.sh")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	args := []string{"--model", plantedModelDir, "--rounds", "1", "--strokes", "3", "--warmup", "1", "--compare-torch",
		"--python", "/bin/sh", "--torch-script", path}
	if err := runBench(context.Background(), args, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PyTorch eager regeneration (fake)", "5.00 ms", "1.0 M MACs", "measured peak 100 GFLOP/s",
		"against PyTorch eager regeneration (fake)", "max |PyTorch − ONNX Runtime full tail|"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}

	failing := filepath.Join(t.TempDir(), "failing.sh")
	if err := os.WriteFile(failing, []byte(`read -r line; echo '{"ok": false, "error": "no torch here"}'`), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runBench(context.Background(), []string{"--model", plantedModelDir, "--compare-torch", "--python", "/bin/sh", "--torch-script", failing},
		&bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no torch here") {
		t.Errorf("failing PyTorch side: %v, want its error", err)
	}
}
