package inference

import (
	"fmt"
	"runtime"
)

// renderThread runs a worker's ONNX Runtime calls on one OS thread of its
// own, at a lower scheduling priority than the rest of the process. With
// intra-op parallelism 1, ONNX Runtime computes on the calling thread; on a
// server whose workers keep every core busy, the threads that answer
// health checks and read websockets would otherwise wait for a render's time
// slice. An unprivileged process can lower a thread's priority but never
// raise it back, so the thread is never returned to Go's pool: it exits with
// its goroutine when the worker is destroyed.
type renderThread struct {
	jobs chan func()
	done chan struct{} // one job at a time: a worker has one user
}

// startRenderThread starts the thread and sets its nice value.
func startRenderThread(nice int) (*renderThread, error) {
	t := &renderThread{jobs: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := setThreadNice(nice); err != nil {
			started <- err
			return
		}
		started <- nil
		for job := range t.jobs {
			job()
			t.done <- struct{}{}
		}
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("%w: render thread at nice %d: %v", ErrRuntime, nice, err)
	}
	return t, nil
}

// do runs job on the thread and waits for it.
func (t *renderThread) do(job func()) {
	t.jobs <- job
	<-t.done
}

func (t *renderThread) stop() { close(t.jobs) }
