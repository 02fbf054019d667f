package pipeline

import (
	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/core/config"
	"lab.dev/lab/gitops"
)

// InitGitOpsRepo writes the lab's GitOps repository into dir: gitops' layout
// with the agent's RBAC and APF objects rendered here, where both meet.
func InitGitOpsRepo(dir string, l *config.Lab, repoURL string) ([]string, error) {
	objs, err := deploy.Render(l, deploy.Parts(l)...)
	if err != nil {
		return nil, err
	}
	return gitops.InitRepo(dir, l, repoURL, []byte(deploy.YAML(objs)))
}
