package agent

import (
	"io/fs"
	"os"
	"path/filepath"

	"lab.dev/lab/agent/runbook"
	"lab.dev/lab/core/config"
	"lab.dev/lab/manifests"
)

// LoadRunbooks indexes the lab's runbooks: the runbooks/ folder of its GitOps
// repository when gitops.repo is a folder here (the team's edited copies of
// what `lab gitops init` wrote), else the ones lab ships; plus every folder
// agent.runbooks names.
func LoadRunbooks(l *config.Lab) (*runbook.Index, error) {
	var dirs []string
	var shipped fs.FS
	if repo, ok := l.GitOpsRepo(); ok {
		if fi, err := os.Stat(filepath.Join(repo, "runbooks")); err == nil && fi.IsDir() {
			dirs = append(dirs, filepath.Join(repo, "runbooks"))
		}
	}
	if len(dirs) == 0 {
		sub, err := fs.Sub(manifests.GitOps, "gitops/runbooks")
		if err != nil {
			return nil, err
		}
		shipped = sub
	}
	return runbook.Load(shipped, append(dirs, l.Agent.Runbooks...)...)
}
