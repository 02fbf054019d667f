package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"lab.dev/lab/bootstrap/doctor"
)

// preflight runs the doctor's checks once per `lab up`: Inspect runs them and
// keeps the report, Apply only explains the failed ones.
var preflightStep = Step{Name: "preflight", Inspect: inspectPreflight, Apply: applyPreflight}

func (c *Context) doctorReport(ctx context.Context) doctor.Report {
	if c.preflight == nil {
		rep := doctor.Run(ctx, c.Doctor, doctor.Checks(), 10*time.Second)
		c.preflight = &rep
	}
	return *c.preflight
}

func inspectPreflight(ctx context.Context, c *Context) (bool, string, error) {
	rep := c.doctorReport(ctx)
	if !rep.Passed {
		return false, fmt.Sprintf("%d fatal check(s) failed", rep.Failures), nil
	}
	return true, fmt.Sprintf("no fatal check failed, %d warning(s); see `lab doctor`", rep.Warnings), nil
}

func applyPreflight(ctx context.Context, c *Context) (string, error) {
	rep := c.doctorReport(ctx)
	if rep.Passed {
		return "passed", nil
	}
	var b strings.Builder
	doctor.Failed(&b, c.UI, rep)
	return "", fmt.Errorf("preflight failed (`lab doctor` shows every check):\n%s", strings.TrimRight(b.String(), "\n"))
}
