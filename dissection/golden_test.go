package dissection

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestReportGolden pins the printed summary and causal table of a fixed
// dissection of the fake model (the fake is deterministic, and so is every
// step of the dissection).
func TestReportGolden(t *testing.T) {
	res, err := Dissect(context.Background(), newFakeGen(), Config{Layers: []string{"a"}, Samples: 120, Seed: 5,
		Logger: quietLogger(), Causal: CausalConfig{Samples: 6, Ks: []int{1, 3}, LocationImages: 2, LocationK: 1}})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Layers["a"]
	var got bytes.Buffer
	l.WriteSummary(&got)
	l.Causal.WriteTable(&got, l.ClassNames)
	path := filepath.Join("testdata", "report.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run ReportGolden -update)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("report differs from %s:\n--- got\n%s--- want\n%s", path, got.String(), want)
	}
}
