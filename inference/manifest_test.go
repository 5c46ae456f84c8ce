package inference_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
)

func plantedManifest(t testing.TB) inference.Manifest {
	t.Helper()
	raw, err := os.ReadFile(plantedDir + "/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := inference.ParseManifest(raw)
	if err != nil {
		t.Fatalf("planted manifest: %v", err)
	}
	return m
}

func TestParseManifestPlanted(t *testing.T) {
	m := plantedManifest(t)
	if m.Name != "planted" || m.Z.Size != 8 || len(m.Generator.Blocks) != 3 || m.Segmenter == nil || len(m.Segmenter.Classes) != 5 {
		t.Fatalf("unexpected manifest: %+v", m)
	}
	c := m.Clone()
	c.Generator.Blocks[0].Name = "changed"
	c.Segmenter.Classes[0].Name = "changed"
	if m.Generator.Blocks[0].Name == "changed" || m.Segmenter.Classes[0].Name == "changed" {
		t.Fatal("clone shares slices with the original")
	}
}

func TestParseManifestRejects(t *testing.T) {
	base := plantedManifest(t)
	tests := []struct {
		name   string
		mutate func(m *inference.Manifest)
		want   string // part of the message
	}{
		{"wrong format", func(m *inference.Manifest) { m.Format = "other" }, "format"},
		{"future version", func(m *inference.Manifest) { m.Version = 2 }, "version 2"},
		{"no name", func(m *inference.Manifest) { m.Name = "" }, "name"},
		{"zero z size", func(m *inference.Manifest) { m.Z.Size = 0 }, "z.size"},
		{"unknown z rule", func(m *inference.Manifest) { m.Z.Rule = "gaussian-table" }, "z.rule"},
		{"max id zero", func(m *inference.Manifest) { m.Z.MaxID = 0 }, "max_id"},
		{"image zero", func(m *inference.Manifest) { m.Image.Height = 0 }, "image size"},
		{"image huge", func(m *inference.Manifest) { m.Image.Width = 1 << 20 }, "image size"},
		{"range reversed", func(m *inference.Manifest) { m.Image.Range = [2]float32{1, -1} }, "image.range"},
		{"no blocks", func(m *inference.Manifest) { m.Generator.Blocks = nil }, "generator.blocks"},
		{"bad layer name", func(m *inference.Manifest) { m.Generator.Blocks[0].Name = "layer 1" }, "name"},
		{"duplicate layer", func(m *inference.Manifest) { m.Generator.Blocks[1].Name = "layer1" }, "duplicate layer"},
		{"zero channels", func(m *inference.Manifest) { m.Generator.Blocks[1].Channels = 0 }, "channels"},
		{"negative height", func(m *inference.Manifest) { m.Generator.Blocks[1].Height = -8 }, "size"},
		{"huge activations", func(m *inference.Manifest) {
			m.Generator.Blocks[1].Channels, m.Generator.Blocks[1].Height, m.Generator.Blocks[1].Width = 1<<16, 1<<12, 1<<12
		}, "too large"},
		{"absolute path", func(m *inference.Manifest) { m.Generator.Blocks[0].File = "/etc/passwd" }, "relative path"},
		{"escaping path", func(m *inference.Manifest) { m.Generator.Blocks[0].File = "../x.onnx" }, "relative path"},
		{"empty file", func(m *inference.Manifest) { m.Generator.ToRGB.File = "" }, "file is empty"},
		{"shared file", func(m *inference.Manifest) { m.Generator.ToRGB.File = m.Generator.Blocks[0].File }, "already used"},
		{"no default layer", func(m *inference.Manifest) { m.DefaultLayer = "" }, "default_layer"},
		{"unknown default layer", func(m *inference.Manifest) { m.DefaultLayer = "layer9" }, "default_layer"},
		{"sample id out of range", func(m *inference.Manifest) { m.SampleIDs = []int64{0, m.Z.MaxID} }, "sample id"},
		{"negative sample id", func(m *inference.Manifest) { m.SampleIDs = []int64{-1} }, "sample id"},
		{"segmenter no classes", func(m *inference.Manifest) { m.Segmenter.Classes = nil }, "classes"},
		{"segmenter duplicate class", func(m *inference.Manifest) { m.Segmenter.Classes[1].Name = m.Segmenter.Classes[0].Name }, "duplicate class"},
		{"segmenter bad colour", func(m *inference.Manifest) { m.Segmenter.Classes[0].Color = "red" }, "#rrggbb"},
		{"segmenter bad range", func(m *inference.Manifest) { m.Segmenter.InputRange = [2]float32{0, 0} }, "input_range"},
		{"unknown background", func(m *inference.Manifest) { m.Segmenter.Background = "void" }, "segmenter.background"},
		{"background the only class", func(m *inference.Manifest) {
			m.Segmenter.Classes, m.Segmenter.Background = m.Segmenter.Classes[:1], m.Segmenter.Classes[0].Name
		}, "segmenter.background"},
		{"too many classes", func(m *inference.Manifest) {
			for i := 0; i < 300; i++ {
				m.Segmenter.Classes = append(m.Segmenter.Classes, inference.ClassSpec{Name: strings.Repeat("c", 1+i%60) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Color: "#000000"})
			}
		}, "classes"},
		{"discriminator empty", func(m *inference.Manifest) { m.Discriminator = &inference.FileSpec{} }, "discriminator"},
		{"inpainter empty", func(m *inference.Manifest) { m.Inpainter = &inference.FileSpec{} }, "inpainter"},
		{"inpainter shares a file", func(m *inference.Manifest) { m.Inpainter = &inference.FileSpec{File: m.Segmenter.File} }, "already used"},
		{"inpainter escaping path", func(m *inference.Manifest) { m.Inpainter = &inference.FileSpec{File: "../inpainter.onnx"} }, "relative path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base.Clone()
			tt.mutate(&m)
			raw, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = inference.ParseManifest(raw)
			if !errors.Is(err, inference.ErrBadModel) {
				t.Fatalf("error = %v, want ErrBadModel", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestParseManifestRawRejects(t *testing.T) {
	good, err := os.ReadFile(plantedDir + "/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  string
	}{
		{"empty", ""},
		{"not json", "manifest"},
		{"array", "[]"},
		{"trailing object", string(good) + "{}"},
		{"string size", strings.Replace(string(good), `"size": 8`, `"size": "8"`, 1)},
		{"negative seed", strings.Replace(string(good), `"seed": 0`, `"seed": -1`, 1)},
		{"too big", `{"name":"` + strings.Repeat("x", inference.MaxManifestBytes) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := inference.ParseManifest([]byte(tt.raw)); !errors.Is(err, inference.ErrBadModel) {
				t.Fatalf("error = %v, want ErrBadModel", err)
			}
		})
	}
	if _, err := inference.ParseManifest(good); err != nil {
		t.Fatalf("good manifest rejected: %v", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	good, err := os.ReadFile(plantedDir + "/manifest.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"format":"ganpaint-model","version":1}`))
	f.Add([]byte(`{"generator":{"blocks":[{"name":"a","channels":-1}]}}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := inference.ParseManifest(data)
		if err != nil {
			if !errors.Is(err, inference.ErrBadModel) {
				t.Fatalf("error does not wrap ErrBadModel: %v", err)
			}
			return
		}
		// Whatever is accepted must satisfy the invariants the loader relies on.
		if m.Z.Size <= 0 || len(m.Generator.Blocks) == 0 || !inference.RangeOK(m.Image.Range) {
			t.Fatalf("accepted invalid manifest: %+v", m)
		}
		for _, b := range m.Generator.Blocks {
			if b.Channels <= 0 || b.Height <= 0 || b.Width <= 0 {
				t.Fatalf("accepted bad block %+v", b)
			}
		}
		if !hasBlock(m, m.DefaultLayer) {
			t.Fatalf("default layer %q not a block", m.DefaultLayer)
		}
	})
}

func hasBlock(m inference.Manifest, name string) bool {
	for _, b := range m.Generator.Blocks {
		if b.Name == name {
			return true
		}
	}
	return false
}
