package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestProcessAdvancesWithWork spins until the clock has moved, within a
// bound, so the test fails if the clock does not count this process's work.
func TestProcessAdvancesWithWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, ok := Process(); ok {
			t.Fatal("a CPU clock reported on a platform without one")
		}
		t.Skip("no process CPU clock on " + runtime.GOOS)
	}
	start, ok := Process()
	if !ok {
		t.Fatal("no process CPU clock on linux")
	}
	x := 1.0
	for i := 0; i < 1e9; i++ {
		x = x*1.0000001 + 1e-9
		if i%1e5 == 0 {
			if now, _ := Process(); now-start >= 5*time.Millisecond {
				return
			}
		}
	}
	now, _ := Process()
	t.Fatalf("CPU clock moved %v after 1e9 multiply-adds (x=%v)", now-start, x)
}
