// Command shoal-bench imports a TEXMEX data set into a Qdrant-compatible
// endpoint and measures search QPS and recall@10; see internal/loadtool.
package main

import (
	"os"

	"github.com/shoal-db/shoal/internal/loadtool"
)

func main() { os.Exit(loadtool.Main(os.Args[1:], os.Stdout, os.Stderr)) }
