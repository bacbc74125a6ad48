//go:build !unix

package clustertest

import (
	"testing"
	"time"
)

// processCPU reports no CPU time where getrusage is missing.
func processCPU(*testing.T) time.Duration { return 0 }
