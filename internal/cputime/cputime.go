// Package cputime reads the CPU time this process has used, so benchmarks
// on a shared machine can report work done rather than wall time, which
// other processes' load stretches.
package cputime

import "time"

// Process returns the CPU time used so far by every thread of this process
// (user + system), and false where the platform offers no such clock.
func Process() (time.Duration, bool) { return process() }
