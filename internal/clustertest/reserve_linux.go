//go:build linux

package clustertest

import (
	"fmt"
	"io"
	"net"
	"syscall"
)

// reservePort binds a socket to host:port (an IPv4 address) without
// listening on it:
// while a node is stopped, connections to its peer port are refused as
// they would be with nothing there, but no other socket can take the port
// (an outgoing connection of another test process picking it as its
// ephemeral source port made a restart fail to bind). SO_REUSEADDR on both
// sides lets the node's listener bind the port while the reservation still
// holds it.
func reservePort(host string, port int) (io.Closer, error) {
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return nil, fmt.Errorf("cannot reserve a port on %q: not an IPv4 address", host)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte(ip)}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return fdCloser(fd), nil
}

type fdCloser int

func (fd fdCloser) Close() error { return syscall.Close(int(fd)) }
