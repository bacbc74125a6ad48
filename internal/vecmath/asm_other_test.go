//go:build !amd64 || noasm

package vecmath

func asmCases() []kernelCase { return nil }
