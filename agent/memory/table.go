package memory

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Table writes incidents as `lab agent incidents` prints them.
func Table(w io.Writer, list []Incident) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FINGERPRINT\tCATEGORY\tSEEN\tFIRST\tLAST\tLAST ON\tLAST ROOT CAUSE")
	for _, i := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", i.Fingerprint, i.Key.Category, i.Count, i.First.UTC().Format("2006-01-02"),
			i.Last.UTC().Format("2006-01-02 15:04"), i.LastNamespace+"/"+i.LastPod, clip(i.LastCause, 100))
	}
	return tw.Flush()
}
