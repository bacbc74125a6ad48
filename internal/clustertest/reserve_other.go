//go:build !linux

package clustertest

import (
	"errors"
	"io"
)

// reservePort is not available here: a stopped node's port is left free.
func reservePort(host string, port int) (io.Closer, error) {
	return nil, errors.New("port reservation needs Linux")
}
