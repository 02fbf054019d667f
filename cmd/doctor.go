package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/bootstrap/pipeline"
)

func newDoctor(g *globals) *cobra.Command {
	var output string
	var offline bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check this host for the lab: resources, container engine, NVIDIA GPU (NVML), ports, inotify, chart repositories",
		Long: "Runs lab's preflight checks (the same ones `lab up` runs) and prints them; exit code 1 when a fatal check fails.\n" +
			"Marks: √ passed, ‼ warning, × failed, - not relevant for this lab.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			l, err := g.loadLab()
			if err != nil {
				return err
			}
			env := pipeline.DoctorEnv(l, offline, timeout)
			rep := doctor.Run(c.Context(), env, doctor.Checks(), timeout+2*time.Second)
			switch output {
			case "json":
				e := json.NewEncoder(g.ui.Out)
				e.SetIndent("", "  ")
				if err := e.Encode(rep); err != nil {
					return err
				}
			case "text":
				doctor.Write(g.ui.Out, g.ui, rep)
			default:
				return fmt.Errorf("--output: want text or json, got %q", output)
			}
			if !rep.Passed {
				return errSilent
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.Flags().BoolVar(&offline, "offline", false, "do not probe chart repositories (air-gapped host)")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "timeout of each network probe")
	c.SetContext(context.Background())
	return c
}
