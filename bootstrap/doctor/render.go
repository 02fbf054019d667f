package doctor

import (
	"fmt"
	"io"
	"strings"

	"lab.dev/lab/core/ui"
)

var marks = map[Status]string{OK: ui.MarkOK, Warn: ui.MarkWarn, Fail: ui.MarkFail, Skip: ui.MarkSkip}

// Write renders a report the way `lab doctor` prints it — one block per
// category, a mark per check, hints under warnings and failures, a summary
// line — and the way `lab up`'s failed preflight explains itself. The one
// renderer; golden-tested.
func Write(w io.Writer, u *ui.UI, rep Report) {
	cat := ""
	for _, o := range rep.Outcomes {
		if o.Category != cat {
			if cat != "" {
				fmt.Fprintln(w)
			}
			cat = o.Category
			fmt.Fprintln(w, u.Bold(cat))
			fmt.Fprintln(w, u.Bold(strings.Repeat("-", len(cat))))
		}
		fmt.Fprintf(w, "%s %s: %s\n", u.Mark(marks[o.Status]), o.Description, o.Message)
		if (o.Status == Warn || o.Status == Fail) && o.Hint != "" {
			fmt.Fprintf(w, "    hint: %s\n", o.Hint)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, Summary(u, rep))
}

// Summary is the report's last line.
func Summary(u *ui.UI, rep Report) string {
	switch {
	case !rep.Passed:
		return fmt.Sprintf("Status check results are %s (%d failed, %d warnings)", u.Mark(ui.MarkFail), rep.Failures, rep.Warnings)
	case rep.Warnings > 0:
		return fmt.Sprintf("Status check results are %s (%d warnings)", u.Mark(ui.MarkWarn), rep.Warnings)
	default:
		return fmt.Sprintf("Status check results are %s", u.Mark(ui.MarkOK))
	}
}

// Failed writes only the failed checks with their hints: what a failed
// preflight in `lab up` shows, in the same shape as `lab doctor`.
func Failed(w io.Writer, u *ui.UI, rep Report) {
	for _, o := range rep.Outcomes {
		if o.Status == Fail {
			fmt.Fprintf(w, "%s %s: %s\n", u.Mark(marks[o.Status]), o.Description, o.Message)
			if o.Hint != "" {
				fmt.Fprintf(w, "    hint: %s\n", o.Hint)
			}
		}
	}
}
