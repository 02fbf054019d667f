package cmd

import (
	"fmt"
	"os"
	"path/filepath"

	"lab.dev/lab/bootstrap/config"
)

// kwokBinaries are what the kwok provider runs.
var kwokBinaries = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok"}

// kwokBinResolver finds the kwok provider's binaries: cluster.kwok.binDir,
// else $LAB_TESTBIN, else the cache test/bin/build.sh fills.
func kwokBinResolver(l *config.Lab) func() (string, error) {
	return func() (string, error) {
		dir := l.Cluster.Kwok.BinDir
		if dir == "" {
			dir = os.Getenv("LAB_TESTBIN")
		}
		if dir == "" {
			cache, err := os.UserCacheDir()
			if err != nil {
				return "", err
			}
			dir = filepath.Join(cache, "lab", "testbin")
		}
		var missing []string
		for _, b := range kwokBinaries {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				missing = append(missing, b)
			}
		}
		if len(missing) > 0 {
			return dir, fmt.Errorf("%v missing in %s", missing, dir)
		}
		return dir, nil
	}
}
