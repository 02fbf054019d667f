// Package cmd holds lab's cobra commands: each file turns flags into options
// and makes one call into a package. No logic lives here.
package cmd

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"lab.dev/lab/core/config"
	"lab.dev/lab/core/ui"
)

// errSilent is returned when the command already told the user what went
// wrong (e.g. a failed doctor run): exit 1 without another ERROR line.
var errSilent = errors.New("")

type globals struct {
	configPath string
	configSet  bool
	verbosity  int
	quiet      bool
	ui         *ui.UI
}

// loadLab reads the lab.yaml given by --config. Without --config and without
// ./lab.yaml the documented default lab is used.
func (g *globals) loadLab() (*config.Lab, error) {
	if !g.configSet {
		if _, err := os.Stat(g.configPath); errors.Is(err, os.ErrNotExist) {
			g.ui.Debug(1, "no %s here: using the default lab", g.configPath)
			return config.Default(), nil
		}
	}
	return config.LoadFile(g.configPath)
}

func newRoot() (*cobra.Command, *globals) {
	g := &globals{}
	root := &cobra.Command{
		Use:           "lab",
		Short:         "A GPU-backed Kubernetes lab on one workstation, and an SRE agent that diagnoses it with a local model",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(c *cobra.Command, _ []string) {
			g.configSet = c.Flags().Changed("config")
			g.ui = ui.New(g.quiet, g.verbosity)
			g.ui.Out, g.ui.Err = c.OutOrStdout(), c.ErrOrStderr()
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configPath, "config", "c", "lab.yaml", "lab configuration file")
	pf.CountVarP(&g.verbosity, "verbose", "v", "more detail on stderr (-v, -vv): decisions, skipped work, trace ids")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "no progress output, results only")
	root.AddCommand(newVersion(g), newInit(g), newSchema(g), newConfig(g), newDoctor(g), newUp(g), newStatus(g), newDown(g), newDiagnose(g), newAgent(g), newCerts(g), newGitOps(g), newBreak(g), newBundle(g), newCluster(g), newSBOM(g))
	return root, g
}

// Execute runs lab with os.Args and returns the process exit code.
func Execute() int {
	root, _ := newRoot()
	return run(root, os.Args[1:])
}

func run(root *cobra.Command, args []string) int {
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	if !errors.Is(err, errSilent) {
		fmt.Fprintf(root.ErrOrStderr(), "ERROR: %v\n", err)
	}
	return 1
}
