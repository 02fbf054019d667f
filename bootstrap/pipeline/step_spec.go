package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// spec compares lab.yaml with the spec the last `lab up` applied: a change
// to the cluster is shown and needs --force (and may recreate the cluster).
var specStep = Step{Name: "spec", Inspect: inspectSpec, Apply: applySpec}

func inspectSpec(_ context.Context, c *Context) (bool, string, error) {
	old, err := ReadApplied(c.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, "new lab", nil
	}
	if err != nil {
		return false, "", err
	}
	if n := len(ClusterChanges(Diff(old, c.Lab))); n > 0 {
		return false, fmt.Sprintf("%d cluster change(s) since the last up", n), nil
	}
	return true, "cluster spec unchanged", nil
}

func applySpec(ctx context.Context, c *Context) (string, error) {
	old, err := ReadApplied(c.Dir)
	if err != nil {
		return "", err
	}
	changes := ClusterChanges(Diff(old, c.Lab))
	lines := make([]string, len(changes))
	for i, ch := range changes {
		lines[i] = "  " + ch.String()
	}
	diff := strings.Join(lines, "\n")
	if !c.Force {
		return "", fmt.Errorf("%w:\n%s", ErrSpecChanged, diff)
	}
	c.UI.Progress("applying with --force:\n%s", diff)
	if NeedsRecreate(c.Provider.Capabilities(), changes) {
		if err := c.Provider.Delete(ctx); err != nil {
			return "", fmt.Errorf("deleting the cluster to recreate it: %w", err)
		}
		_ = os.Remove(filepath.Join(c.Dir, appliedFile))
		return "cluster will be recreated", nil
	}
	return fmt.Sprintf("%d change(s) accepted", len(changes)), nil
}
