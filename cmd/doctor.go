package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/core/ui"
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
			env := doctorEnv(l, offline, timeout)
			rep := doctor.Run(c.Context(), env, doctor.Checks(), timeout+2*time.Second)
			switch output {
			case "json":
				e := json.NewEncoder(g.ui.Out)
				e.SetIndent("", "  ")
				if err := e.Encode(rep); err != nil {
					return err
				}
			case "text":
				printReport(g.ui, rep)
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

func printReport(u *ui.UI, rep doctor.Report) {
	marks := map[doctor.Status]string{doctor.OK: ui.MarkOK, doctor.Warn: ui.MarkWarn, doctor.Fail: ui.MarkFail, doctor.Skip: ui.MarkSkip}
	cat := ""
	for _, o := range rep.Outcomes {
		if o.Category != cat {
			if cat != "" {
				fmt.Fprintln(u.Out)
			}
			cat = o.Category
			fmt.Fprintln(u.Out, u.Bold(cat))
			fmt.Fprintln(u.Out, u.Bold(strings.Repeat("-", len(cat))))
		}
		fmt.Fprintf(u.Out, "%s %s: %s\n", u.Mark(marks[o.Status]), o.Description, o.Message)
		if (o.Status == doctor.Warn || o.Status == doctor.Fail) && o.Hint != "" {
			fmt.Fprintf(u.Out, "    hint: %s\n", o.Hint)
		}
	}
	fmt.Fprintln(u.Out)
	switch {
	case !rep.Passed:
		fmt.Fprintf(u.Out, "Status check results are %s (%d failed, %d warnings)\n", u.Mark(ui.MarkFail), rep.Failures, rep.Warnings)
	case rep.Warnings > 0:
		fmt.Fprintf(u.Out, "Status check results are %s (%d warnings)\n", u.Mark(ui.MarkWarn), rep.Warnings)
	default:
		fmt.Fprintf(u.Out, "Status check results are %s\n", u.Mark(ui.MarkOK))
	}
}
