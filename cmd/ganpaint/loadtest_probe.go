package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The /healthz prober runs in a child process by default. Inside the load
// client it shares two Go processors with hundreds of flooder goroutines, so
// its timings would include the client's own run-queue waits (tens of ms
// under a flood) and blame them on the server.

// probeOutputFail is the line a probing child prints for a failed probe;
// a successful probe prints its latency in nanoseconds.
const probeOutputFail = "fail"

// runProbeOnly is `ganpaint loadtest --probe-only`: probe until duration
// ends and print one line per probe.
func runProbeOnly(ctx context.Context, base string, duration time.Duration, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	lat, failures := probeHealth(ctx, base)
	w := bufio.NewWriter(stdout)
	for _, d := range lat {
		fmt.Fprintln(w, d.Nanoseconds())
	}
	for range failures {
		fmt.Fprintln(w, probeOutputFail)
	}
	return w.Flush()
}

// childProber returns a prober that runs `exe loadtest --probe-only` for
// the test's duration and reads its results.
func childProber(exe string, duration time.Duration) func(ctx context.Context, base string) ([]time.Duration, int, error) {
	return func(ctx context.Context, base string) ([]time.Duration, int, error) {
		// The child stops itself after duration, when the load test's own
		// context ends too, so it must not be killed by that; the grace
		// covers its start and its last probe.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), duration+30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, exe, "loadtest", "--probe-only", "--url", base, "--duration", duration.String())
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, 0, fmt.Errorf("the /healthz prober process: %w", err)
		}
		return parseProbeOutput(string(out))
	}
}

func parseProbeOutput(out string) ([]time.Duration, int, error) {
	var lat []time.Duration
	failures := 0
	for _, line := range strings.Fields(out) {
		if line == probeOutputFail {
			failures++
			continue
		}
		ns, err := strconv.ParseInt(line, 10, 64)
		if err != nil || ns < 0 {
			return nil, 0, fmt.Errorf("the /healthz prober process printed %q", line)
		}
		lat = append(lat, time.Duration(ns))
	}
	return lat, failures, nil
}
