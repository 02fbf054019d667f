package pipeline

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// UpSteps are the steps of `lab up`, in order, one file each. An Inspect
// only reads (the dry run is exact and leaves the host as it was); an Apply
// acts on the difference.
func UpSteps() []Step {
	return []Step{preflightStep, specStep, clusterStep, nodesStep, stacksStep, gitopsStep, agentStep, recordStep}
}

// waitUntil polls check every 2 s until it says done, for at most limit; it
// returns check's last word, or an error naming what was not Ready and why.
func waitUntil(ctx context.Context, limit time.Duration, what string, check func(context.Context) (bool, string, error)) (string, error) {
	var why string
	var last error
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, limit, true, func(ctx context.Context) (bool, error) {
		var ok bool
		ok, why, last = check(ctx)
		return last == nil && ok, nil
	})
	switch {
	case err == nil:
		return why, nil
	case ctx.Err() != nil:
		return "", ctx.Err()
	case last != nil:
		return "", fmt.Errorf("%s not Ready after %s: %w", what, limit, last)
	}
	return "", fmt.Errorf("%s not Ready after %s: %s", what, limit, why)
}
