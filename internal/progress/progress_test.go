package progress_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ganpaint-go/ganpaint/internal/progress"
)

func TestBar(t *testing.T) {
	clock := time.Unix(0, 0)
	now := func() time.Time { return clock }
	var out bytes.Buffer
	b := progress.New(&out, "pass 1/2", "samples", 10, now)
	for range 4 {
		clock = clock.Add(time.Second)
		b.Add(1)
	}
	if line := out.String()[strings.LastIndex(out.String(), "\r"):]; !strings.Contains(line, "[#########...............] 4/10  1.0 samples/s  ETA 6s") {
		t.Errorf("line after 4 of 10 at 1/s: %q", line)
	}
	clock = clock.Add(6 * time.Second)
	b.Add(6)
	if r := b.Finish(); r != 1 {
		t.Errorf("rate %v, want 1", r)
	}
	if !strings.HasSuffix(strings.TrimRight(out.String(), " \n"), "10 samples in 10s (1.0 samples/s)") {
		t.Errorf("summary: %q", out.String())
	}

	silent := progress.New(nil, "x", "probes", 3, now)
	silent.Add(3)
	if r := silent.Finish(); r != 0 {
		t.Errorf("no time passed: rate %v, want 0", r)
	}
}
