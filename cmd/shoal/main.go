// Command shoal runs the Shoal vector database (Qdrant-compatible REST on
// 6333 and gRPC on 6334) and its tools; see internal/cli.
package main

import (
	"os"

	"github.com/shoal-db/shoal/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
