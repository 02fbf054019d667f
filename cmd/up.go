package cmd

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/state"
	"lab.dev/lab/nvidia"
	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/certs"
)

// labContext builds the pipeline context for the lab in lab.yaml.
func (g *globals) labContext(l *config.Lab) (*pipeline.Context, error) {
	dir := state.LabDir(l.Metadata.Name)
	p, err := cluster.New(l, dir)
	if err != nil {
		return nil, err
	}
	return &pipeline.Context{Lab: l, Dir: dir, Provider: p, UI: g.ui}, nil
}

func doctorEnv(l *config.Lab, offline bool, timeout time.Duration) *doctor.Env {
	env := &doctor.Env{Lab: l, Host: doctor.SystemHost{}, GPU: nvidia.NVML(),
		HTTP: &http.Client{Timeout: timeout}, Offline: offline, KwokBins: kwokBinResolver(l), Terraform: cluster.TerraformVersion,
		Existing: func(ctx context.Context) (string, error) {
			p, err := cluster.New(l, state.LabDir(l.Metadata.Name))
			if err != nil {
				return "", err
			}
			cfg, err := p.RESTConfig()
			if err != nil {
				return "", err
			}
			return cfg.Host + " ready", cluster.APIReady(ctx, cfg)
		}}
	for _, s := range stacks.Enabled(l) {
		for _, ch := range s.Charts {
			env.Endpoints = append(env.Endpoints, doctor.Endpoint{Name: ch.Name, URL: ch.Repo})
		}
	}
	return env
}

func newUp(g *globals) *cobra.Command {
	var force, dryRun, retain, offline bool
	var provider, output, bundle string
	c := &cobra.Command{
		Use:   "up",
		Short: "Create or converge the lab: preflight, cluster, nodes, recorded spec (idempotent, resumable)",
		Long: "Runs lab's steps in order. Each inspects what exists and acts only on the difference, so re-running\n" +
			"on a healthy lab changes nothing, and an interrupted run resumes where it stopped. A lab.yaml that\n" +
			"changes the cluster shows the diff and needs --force.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			if provider != "" {
				l.Cluster.Provider = provider
				if errs := config.Validate(l); len(errs) > 0 {
					return fmt.Errorf("--provider %s: %v", provider, errs[0])
				}
			}
			pc, err := g.labContext(l)
			if err != nil {
				return err
			}
			pc.Force, pc.Bundle = force, bundle
			if bundle != "" {
				offline = true
			}
			if r, ok := pc.Provider.(cluster.Retainer); ok {
				r.SetRetain(retain)
			}
			env := doctorEnv(l, offline, 5*time.Second)
			gpu, _ := env.GPUInfo()
			pc.Model = doctor.ResolveModel(l, gpu.LargestVRAM())
			steps := pipeline.UpSteps(func(*pipeline.Context) *doctor.Env { return env })
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if dryRun && output == "yaml" {
				return renderAll(g, pc)
			}
			if dryRun {
				return printPlan(ctx, g, pc, steps)
			}
			if err := state.EnsureMeta(pc.Dir, state.Meta{Name: l.Metadata.Name, Provider: l.Cluster.Provider, Created: time.Now().UTC(), Config: g.configPath}); err != nil {
				return err
			}
			g.ui.Progress("lab %s (%s), state in %s", l.Metadata.Name, l.Cluster.Provider, pc.Dir)
			res, err := pipeline.Run(ctx, pc, steps)
			if err != nil {
				logs, _ := filepath.Glob(filepath.Join(pc.Dir, "*", "*.log"))
				if len(logs) > 0 {
					g.ui.Progress("component logs: %s", filepath.Dir(logs[0]))
				}
				g.ui.Progress("the lab is kept as it is (re-run `lab up` to resume, `lab down` to remove it)")
				return err
			}
			if len(res.Changed) == 0 {
				g.ui.Progress("lab %s is up to date: nothing changed", l.Metadata.Name)
			} else {
				g.ui.Progress("lab %s is ready", l.Metadata.Name)
			}
			fmt.Fprintf(g.ui.Out, "export KUBECONFIG=%s\n", pc.Provider.Kubeconfig())
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&force, "force", false, "apply cluster changes that alter or recreate the cluster")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan: what each step would do, change nothing")
	f.BoolVar(&retain, "retain", false, "keep a cluster whose creation failed, for inspection (kwok labs are always kept)")
	f.BoolVar(&offline, "offline", false, "air-gapped host: do not probe chart repositories")
	f.StringVar(&bundle, "bundle", "", "install the stacks from this `lab bundle` archive (digests verified; nothing is fetched)")
	f.StringVar(&provider, "provider", "", "override cluster.provider (kind, k3s, kwok, existing)")
	f.StringVarP(&output, "output", "o", "", "with --dry-run: yaml renders every manifest that would be applied")
	return c
}

func printPlan(ctx context.Context, g *globals, pc *pipeline.Context, steps []pipeline.Step) error {
	fmt.Fprintf(g.ui.Out, "plan for lab %s (%s):\n", pc.Lab.Metadata.Name, pc.Lab.Cluster.Provider)
	for _, s := range steps {
		done, why, err := s.Inspect(ctx, pc)
		switch {
		case err != nil:
			fmt.Fprintf(g.ui.Out, "  %-10s would run (cannot inspect yet: %v)\n", s.Name, err)
		case done:
			fmt.Fprintf(g.ui.Out, "  %-10s nothing to do (%s)\n", s.Name, why)
		default:
			if why == "" {
				why = "out of date"
			}
			fmt.Fprintf(g.ui.Out, "  %-10s would run (%s)\n", s.Name, why)
		}
	}
	return nil
}

// renderAll prints every manifest `lab up` would apply: the stacks' charts
// rendered client-side and the agent's objects.
func renderAll(g *globals, pc *pipeline.Context) error {
	env := stacks.Env{Lab: pc.Lab, Model: pc.Model, GPU: pc.Lab.Cluster.GPUWorkers > 0}
	if pc.Lab.Stacks.Linkerd.IsEnabled() {
		var err error
		if env.Certs, err = certs.Ensure(filepath.Join(pc.Dir, "certs")); err != nil {
			return err
		}
	}
	plans, err := stacks.Plans(pc.Lab, env)
	if err != nil {
		return err
	}
	in := &stacks.Installer{CacheDir: filepath.Join(pc.Dir, "helm")}
	for _, p := range plans {
		for _, r := range p.Releases {
			m, err := in.Render(r)
			if err != nil {
				return err
			}
			fmt.Fprint(g.ui.Out, m)
		}
	}
	objs, err := deploy.Render(pc.Lab, deploy.Parts(pc.Lab)...)
	if err != nil {
		return err
	}
	fmt.Fprint(g.ui.Out, "# the agent\n"+deploy.YAML(objs))
	return nil
}
