package shard

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// RemoveIndexFile removes the persisted index file of the vector name from
// the shard directory dir, if there is one. A vector name removed from a
// collection leaves none behind, so that a vector of the same name created
// later starts from an empty index. The shard must be closed.
func RemoveIndexFile(dir, name string) error {
	err := os.Remove(filepath.Join(dir, indexDirName, indexFileName(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
