package pipeline

// UpSteps are the steps of `lab up`, in order, one file each. An Inspect
// only reads (the dry run is exact and leaves the host as it was); an Apply
// acts on the difference.
func UpSteps() []Step {
	return []Step{preflightStep, specStep, clusterStep, nodesStep, stacksStep, gitopsStep, agentStep, recordStep}
}
