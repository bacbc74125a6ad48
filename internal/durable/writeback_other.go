//go:build !linux

package durable

import "os"

func startWriteback(f *os.File, off, n int64) {}

func waitWriteback(f *os.File, off, n int64) {}
