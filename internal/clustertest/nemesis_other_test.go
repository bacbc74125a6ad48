//go:build !linux

package clustertest

import "testing"

// netnsProcCluster needs Linux network namespaces: elsewhere the nemesis
// runs on loopback without partitions.
func netnsProcCluster(t *testing.T, n int, extra ...string) (*procCluster, partitioner) {
	t.Logf("network partitions are not part of this run: they need Linux network namespaces")
	return nil, nil
}
