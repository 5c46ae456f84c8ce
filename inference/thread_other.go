//go:build !linux

package inference

import "errors"

var errNoThreadNice = errors.New("per-thread priority is supported on Linux only")

func setThreadNice(nice int) error {
	if nice == 0 {
		return nil
	}
	return errNoThreadNice
}

func threadNice() (int, error) { return 0, errNoThreadNice }
