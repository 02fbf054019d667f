package runbook

import (
	"strings"
	"testing"
)

// Any Markdown a team puts in its runbooks splits into sections with text
// and is searchable — never a panic, never an empty section.
func FuzzSplit(f *testing.F) {
	f.Add("# OOM\n\n## Raise the limit\nkubectl set resources …\n```\n# not a heading\n```\n")
	f.Add("```\nunclosed fence\n# h\n")
	f.Add("#\n##\n###### x\n\x00\xff")
	f.Fuzz(func(t *testing.T, md string) {
		secs := Split("team/x.md", "team", md)
		for _, s := range secs {
			if strings.TrimSpace(s.Text) == "" || s.File != "team/x.md" {
				t.Fatalf("section %+v", s)
			}
		}
		ix := New(secs)
		ix.Search(md, 3)
		ix.Search("oom memory limit", 3)
	})
}
