package action

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"

	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/config"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/core/version"
)

// Version is `lab version`: lab's version and what it pins.
type Version struct {
	*Config
	Output ui.Format
}

// Run prints the versions.
func (v *Version) Run() error {
	p := config.Pinned()
	if v.Output == ui.JSON {
		return ui.Encode(v.UI.Out, v.Output, map[string]any{"version": version.Version, "go": runtime.Version(), "pins": p})
	}
	w := v.UI.Out
	fmt.Fprintf(w, "lab %s (%s, %s/%s)\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, sec := range []struct {
		title string
		m     map[string]string
	}{{"components", p.Components}, {"charts", p.Charts}} {
		fmt.Fprintf(w, "%s:\n", sec.title)
		keys := make([]string, 0, len(sec.m))
		for k := range sec.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %-24s %s\n", k, sec.m[k])
		}
	}
	return nil
}

// ConfigView is `lab config view`: the effective lab.yaml.
type ConfigView struct {
	*Config
	Output ui.Format
}

// Run prints it as YAML (commented, the template's shape) or JSON.
func (c *ConfigView) Run() error {
	if c.Output == ui.JSON {
		_, err := fmt.Fprintf(c.UI.Out, "%s\n", config.Encode(c.Lab))
		return err
	}
	b, err := config.Template(c.Lab)
	if err != nil {
		return err
	}
	_, err = c.UI.Out.Write(b)
	return err
}

// Init is `lab init`: a commented default lab.yaml.
type Init struct {
	*Config
	Force bool
}

// Run writes path ("-": stdout); an existing file only with Force.
func (i *Init) Run(path string) error {
	if path == "" {
		path = "lab.yaml"
	}
	b, err := config.Template(config.Default())
	if err != nil {
		return err
	}
	if path == "-" {
		_, err := i.UI.Out.Write(b)
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if i.Force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if os.IsExist(err) {
		return fmt.Errorf("%s exists; use --force to overwrite it", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	i.UI.Progress("wrote %s", path)
	return f.Close()
}

// Schema is `lab schema`: lab.yaml's JSON Schema.
type Schema struct{ *Config }

// Run prints the schema.
func (s *Schema) Run() error {
	b, err := config.Schema()
	if err != nil {
		return err
	}
	_, err = s.UI.Out.Write(append(b, '\n'))
	return err
}

// Doctor is `lab doctor`: the preflight checks as data.
type Doctor struct {
	*Config
	Output  ui.Format
	Offline bool
	Timeout time.Duration // of each network probe
}

// Run checks and prints; ui.ErrReported when a fatal check fails.
func (d *Doctor) Run() error {
	env := pipeline.DoctorEnv(d.Lab, d.Offline, d.Timeout)
	rep := doctor.Run(context.Background(), env, doctor.Checks(), d.Timeout+2*time.Second)
	if d.Output == ui.JSON {
		if err := ui.Encode(d.UI.Out, d.Output, rep); err != nil {
			return err
		}
	} else {
		doctor.Write(d.UI.Out, d.UI, rep)
	}
	if !rep.Passed {
		return ui.ErrReported
	}
	return nil
}

// Status is `lab status`.
type Status struct {
	*Config
	Output ui.Format
}

// Run prints the lab's status; ui.ErrReported when it is unhealthy.
func (s *Status) Run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := (&pipeline.Status{Lab: s.Lab, Log: s.UI}).Run(ctx)
	if err != nil {
		return err
	}
	if s.Output == ui.JSON {
		if err := ui.Encode(s.UI.Out, s.Output, st); err != nil {
			return err
		}
	} else {
		st.Write(s.UI.Out, s.UI)
	}
	if !st.Healthy {
		return ui.ErrReported
	}
	return nil
}
