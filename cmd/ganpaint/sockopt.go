package main

import "syscall"

// smallSendBuffer caps a socket's kernel send buffer at 32 KiB.
func smallSendBuffer(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 32<<10)
	})
	if err != nil {
		return err
	}
	return serr
}
