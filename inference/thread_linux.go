package inference

import "syscall"

// setThreadNice sets the calling OS thread's nice value: on Linux,
// PRIO_PROCESS with a thread id applies to that thread alone.
func setThreadNice(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}

// threadNice is the calling OS thread's nice value.
func threadNice() (int, error) {
	// The raw system call returns 20 - nice, so that it is never negative.
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		return 0, err
	}
	return 20 - p, nil
}
