package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ganpaint-go/ganpaint/inference"
)

// torchInit is the PyTorch side's answer to "init" (training/torch_regen.py).
type torchInit struct {
	Torch      string   `json:"torch"`
	Variants   []string `json:"variants"`
	TailMACs   int64    `json:"tail_macs"`
	TotalMACs  int64    `json:"total_macs"`
	PeakGFLOPS float64  `json:"peak_gflops"`
	PeakHow    string   `json:"peak_how"`
}

// torchClient drives training/torch_regen.py over its stdin/stdout, one
// JSON line each way per command.
type torchClient struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// maxTorchLine bounds one answer (an image is base64 of 4 bytes per value).
const maxTorchLine = 64 << 20

func startTorch(ctx context.Context, python, script, modelDir, layer string, z []float32, threads int, stderr io.Writer) (*torchClient, torchInit, error) {
	var info torchInit
	cmd := exec.CommandContext(ctx, python, script)
	cmd.Stderr = stderr
	// One thread means one: OpenMP and MKL read these before torch starts.
	cmd.Env = append(os.Environ(), fmt.Sprintf("OMP_NUM_THREADS=%d", threads), fmt.Sprintf("MKL_NUM_THREADS=%d", threads))
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, info, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, info, err
	}
	if err := cmd.Start(); err != nil {
		return nil, info, fmt.Errorf("starting %s %s: %w", python, script, err)
	}
	t := &torchClient{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<16)}
	if err := t.call(map[string]any{"cmd": "init", "model_dir": modelDir, "layer": layer, "z": z, "threads": threads}, &info); err != nil {
		t.close()
		return nil, info, fmt.Errorf("PyTorch side: %w", err)
	}
	if len(info.Variants) == 0 || info.PeakGFLOPS <= 0 {
		t.close()
		return nil, info, fmt.Errorf("PyTorch side answered init with %+v", info)
	}
	return t, info, nil
}

// call sends one command and decodes the answer's fields into ans.
func (t *torchClient) call(msg map[string]any, ans any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := t.in.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing to the PyTorch side: %w", err)
	}
	var line []byte
	for {
		part, isPrefix, err := t.out.ReadLine()
		if err != nil {
			return fmt.Errorf("reading from the PyTorch side: %w", err)
		}
		line = append(line, part...)
		if len(line) > maxTorchLine {
			return fmt.Errorf("the PyTorch side's answer exceeds %d bytes", maxTorchLine)
		}
		if !isPrefix {
			break
		}
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(line, &status); err != nil {
		return fmt.Errorf("the PyTorch side answered %q: %w", truncateBytes(line, 200), err)
	}
	if !status.OK {
		return fmt.Errorf("the PyTorch side failed: %s", status.Error)
	}
	if ans == nil {
		return nil
	}
	return json.Unmarshal(line, ans)
}

func (t *torchClient) reset(variant string) error {
	return t.call(map[string]any{"cmd": "reset", "variant": variant}, nil)
}

// stroke sends one edit in the form the PyTorch side composes: per-unit
// target values and the opacity of each paint-layer cell.
func (t *torchClient) stroke(variant string, e inference.Edit, li inference.LayerInfo, levels []float32) (cpu, wall time.Duration, err error) {
	values := make([]float32, len(e.Units))
	for i, u := range e.Units {
		switch e.Mode {
		case inference.ModeAdd:
			values[i] = levels[u] * max(e.Strength, 1)
		case inference.ModeSet:
			values[i] = e.Value
		}
	}
	pooled, err := e.Mask.Pooled(li.Width, li.Height, inference.PoolMax)
	if err != nil {
		return 0, 0, err
	}
	alpha := pooled.Alpha
	for i := range alpha {
		alpha[i] *= min(e.Strength, 1)
	}
	var ans struct {
		CPU  int64 `json:"cpu_ns"`
		Wall int64 `json:"wall_ns"`
	}
	err = t.call(map[string]any{"cmd": "stroke", "variant": variant,
		"edit": map[string]any{"units": e.Units, "values": values, "alpha": alpha}}, &ans)
	return time.Duration(ans.CPU), time.Duration(ans.Wall), err
}

// image fetches the variant's latest image as float32 values.
func (t *torchClient) image(variant string) ([]float32, error) {
	var ans struct {
		Data string `json:"data"`
	}
	if err := t.call(map[string]any{"cmd": "image", "variant": variant}, &ans); err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(ans.Data)
	if err != nil || len(raw)%4 != 0 {
		return nil, fmt.Errorf("the PyTorch side sent a malformed image (%d bytes): %v", len(raw), err)
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

func (t *torchClient) close() {
	_ = t.call(map[string]any{"cmd": "quit"}, nil)
	_ = t.in.Close()
	done := make(chan struct{})
	go func() { _ = t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = t.cmd.Process.Kill()
		<-done
	}
}

func truncateBytes(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// modelDirFor returns a directory holding the model's manifest and
// generator files: --model itself, or the embedded model written to a
// temporary directory (removed by cleanup).
func modelDirFor(dir string, fsys fs.FS) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "ganpaint-bench-model-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	copyOne := func(name string) error {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	}
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (p == "manifest.json" || strings.HasPrefix(p, "generator/")) {
			return copyOne(path.Clean(p))
		}
		return nil
	})
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("writing the embedded model for the PyTorch side: %w", err)
	}
	return tmp, cleanup, nil
}

// findUp resolves a relative path against the working directory and its
// parents up to the Go module root, so the bench finds training/ from any
// folder of the checkout.
func findUp(rel string) (string, error) {
	if filepath.IsAbs(rel) {
		if _, err := os.Stat(rel); err != nil {
			return "", err
		}
		return rel, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil || filepath.Dir(dir) == dir {
			return "", fmt.Errorf("%s not found from %s up to the module root", rel, wd)
		}
	}
}
