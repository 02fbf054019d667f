// Package cmd holds lab's cobra commands: each file turns flags into an
// options struct (bootstrap/action, bootstrap/pipeline) and makes one call.
// No logic lives here; test/layers checks each file's imports and size.
package cmd

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"lab.dev/lab/bootstrap/action"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/ui"
)

type globals struct {
	configPath string
	configSet  bool
	verbosity  int
	quiet      bool
	ui         *ui.UI
	action     action.Config // Lab and UI are set by run
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

// run loads the lab into the action config, then calls fn.
func (g *globals) run(fn func() error) error {
	l, err := g.loadLab()
	if err != nil {
		return err
	}
	g.action.Lab, g.action.UI = l, g.ui
	action.APIWarnings(g.ui)
	return fn()
}

// bare calls fn with only the terminal set: for commands that read no lab.yaml.
func (g *globals) bare(fn func() error) error {
	g.action.UI = g.ui
	action.APIWarnings(g.ui)
	return fn()
}

// outputFlag registers -o accepting only allowed (one parser for every command).
func outputFlag(c *cobra.Command, p *ui.Format, def ui.Format, extra string, allowed ...ui.Format) {
	v := ui.NewFormatValue(p, def, allowed...)
	c.Flags().VarP(v, "output", "o", v.Usage(extra))
}

// kubeFlags registers --kubeconfig and --context on fs.
func kubeFlags(fs *pflag.FlagSet, a *action.Config) {
	fs.StringVar(&a.Kubeconfig, "kubeconfig", "", "kubeconfig to use instead of the lab's")
	fs.StringVar(&a.Context, "context", "", "kubeconfig context to use")
}

// command is one cobra command: how it is called, a one-line summary, its
// arguments and the one call it makes.
func command(use, short string, args cobra.PositionalArgs, run func(args []string) error) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: args, RunE: func(_ *cobra.Command, a []string) error { return run(a) }}
}

// first is args[0], or "" when there is none.
func first(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
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
			g.ui.Out, g.ui.Err, g.ui.In = c.OutOrStdout(), c.ErrOrStderr(), c.InOrStdin()
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configPath, "config", "c", "lab.yaml", "lab configuration file")
	pf.CountVarP(&g.verbosity, "verbose", "v", "more detail on stderr (-v, -vv): decisions, skipped work, trace ids")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "no progress output, results only")
	root.AddCommand(newVersion(g), newInit(g), newSchema(g), newConfig(g), newDoctor(g), newUp(g), newStatus(g), newDown(g), newDiagnose(g), newAgent(g), newCerts(g), newGitOps(g), newBreak(g), newBundle(g), newCluster(g), newSBOM(g), newMCP(g))
	return root, g
}

// Execute runs lab with os.Args and returns the process exit code.
func Execute() int {
	root, g := newRoot()
	if action.KubectlPlugin(os.Args[0]) {
		asKubectlPlugin(root, g)
	}
	return run(root, os.Args[1:])
}

// asKubectlPlugin makes lab speak as `kubectl lab`: its usage says so and
// the cluster is kubectl's (kubeconfig, context, namespace), not the lab's.
func asKubectlPlugin(root *cobra.Command, g *globals) {
	root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl lab"}
	g.action.Kubectl = true
}

func run(root *cobra.Command, args []string) int {
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	if !errors.Is(err, ui.ErrReported) {
		fmt.Fprintf(root.ErrOrStderr(), "ERROR: %v\n", err)
	}
	return 1
}
