package cmd

import (
	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/action"
)

func newBundle(g *globals) *cobra.Command {
	o := action.Bundle{Config: &g.action}
	c := command("bundle", "Write the pinned charts of the enabled stacks, their container images and the Ollama model (each with its digest) into one archive for air-gapped `lab up --offline --bundle`", cobra.NoArgs, func([]string) error { return g.run(o.Run) })
	f := c.Flags()
	f.StringVarP(&o.Out, "output", "o", "lab-bundle.tar.gz", "archive to write (a file, not a format)")
	f.StringVar(&o.ModelRegistry, "model-registry", action.DefaultModelRegistry, "Ollama registry (or mirror) to fetch the model from")
	f.StringVar(&o.Charts, "charts", "", "folder holding the pinned charts (NAME-VERSION.tgz as helm package writes them) to read instead of the charts' repositories")
	f.BoolVar(&o.NoModel, "no-model", false, "leave the Ollama model out of the bundle")
	f.BoolVar(&o.NoImages, "no-images", false, "list the charts' images without saving them (saving needs Docker or Podman)")
	f.BoolVar(&o.Scan, "scan", false, "report the bundle's known vulnerabilities from an offline database (--vuln-db; says so when there is none)")
	f.StringVar(&o.VulnDB, "vuln-db", "", "folder of OSV advisories for --scan (default "+action.DefaultVulnDB()+")")
	return c
}
