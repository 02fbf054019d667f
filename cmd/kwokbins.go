package cmd

import (
	"lab.dev/lab/bootstrap/cluster/kwok"
	"lab.dev/lab/core/config"
)

// kwokBinResolver finds the kwok provider's binaries: cluster.kwok.binDir,
// else $LAB_TESTBIN, else the cache test/bin/build.sh fills.
func kwokBinResolver(l *config.Lab) func() (string, error) {
	return func() (string, error) {
		dir := l.Cluster.Kwok.BinDir
		if dir == "" {
			dir = kwok.DefaultBinDir()
		}
		return dir, kwok.CheckBinaries(dir)
	}
}
