package digest

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Source is one log to digest.
type Source struct {
	ID   string // log:app:previous
	Text string
}

// Section is one part of the digest, citing the lines it came from.
type Section struct {
	Title    string   `json:"title"`
	Evidence string   `json:"evidence"` // log:app:previous#L12-L20
	Lines    []string `json:"lines"`
}

// Digest is the prompt-ready view of the logs.
type Digest struct {
	Sections  []Section `json:"sections"`
	Redacted  int       `json:"redacted"`  // secrets replaced
	Lines     int       `json:"lines"`     // input lines
	Templates int       `json:"templates"` // distinct templates
	Tokens    int       `json:"tokens"`    // estimated tokens of Text()
	Dropped   int       `json:"dropped"`   // sections left out for the budget
}

// Options tune the digest.
type Options struct {
	Budget    int // tokens for the whole digest (default 900)
	LastLines int // kept before the end of each log (default 8)
	MaxLine   int // characters per line (default 240)
}

// EstimateTokens approximates a tokenizer: about 4 characters per token for
// English and log text (what Llama and Phi tokenizers average).
func EstimateTokens(s string) int { return (len(s) + 3) / 4 }

var (
	errLine   = regexp.MustCompile(`(?i)\b(error|err|fatal|panic|exception|failed|failure|refused|denied|cannot|unable|timeout|timed out|oom|killed)\b`)
	traceHead = regexp.MustCompile(`^(panic: |fatal error: |goroutine \d+ \[|Traceback \(most recent call last\)|Exception in thread|Caused by: |\S+(Error|Exception)(: |$))`)
	traceBody = regexp.MustCompile(`^(\s+|at |File "|goroutine |\t|created by |\.\.\.|\S+\.go:\d+|\S+\(.*\)$)`)
)

// Build digests the sources. Every line is cleaned and redacted first, so no
// secret reaches any section.
func Build(srcs []Source, o Options) Digest {
	if o.Budget <= 0 {
		o.Budget = 900
	}
	if o.LastLines <= 0 {
		o.LastLines = 8
	}
	if o.MaxLine <= 0 {
		o.MaxLine = 240
	}
	var d Digest
	var must, should []Section
	for _, src := range srcs {
		if src.Text == "" {
			continue
		}
		raw := strings.Split(strings.TrimRight(src.Text, "\n"), "\n")
		lines := make([]string, len(raw))
		inKey := false // inside a PEM private key block: every line is secret
		for i, l := range raw {
			var n int
			l = Clean(l)
			switch {
			case pemBegin.MatchString(l):
				inKey = !pemEnd.MatchString(l)
				lines[i], n = "[REDACTED:private-key]", 1
			case inKey:
				inKey = !pemEnd.MatchString(l)
				lines[i], n = "[REDACTED:private-key]", 1
			default:
				lines[i], n = Redact(l)
			}
			d.Redacted += n
			if len(lines[i]) > o.MaxLine {
				lines[i] = lines[i][:o.MaxLine] + "…"
			}
		}
		d.Lines += len(lines)
		// The first error and any stack trace, whole.
		first := -1
		for i, l := range lines {
			if errLine.MatchString(l) {
				first = i
				break
			}
		}
		if first >= 0 {
			must = append(must, Section{Title: "first error", Evidence: rng(src.ID, first, first), Lines: lines[first : first+1]})
		}
		if s, e := stackTrace(lines); s >= 0 {
			must = append(must, Section{Title: "stack trace", Evidence: rng(src.ID, s, e), Lines: lines[s : e+1]})
		}
		start := max(0, len(lines)-o.LastLines)
		must = append(must, Section{Title: "last lines", Evidence: rng(src.ID, start, len(lines)-1), Lines: lines[start:]})
		// Everything else as templates with counts, rare first.
		tpls := templates(lines)
		d.Templates += len(tpls)
		for _, t := range tpls {
			line := t.example
			if t.count > 1 {
				line = fmt.Sprintf("[x%d] %s", t.count, t.template)
			}
			should = append(should, Section{Title: "template", Evidence: rng(src.ID, t.first, t.last), Lines: []string{line}})
		}
	}
	used := 0
	for _, s := range must {
		cost := EstimateTokens(renderSection(s))
		if used+cost > o.Budget {
			// Keep what fits of a long section (a stack trace) from its start.
			s.Lines = fitLines(s.Lines, o.Budget-used-EstimateTokens(s.Title+s.Evidence)-8)
			if len(s.Lines) == 0 {
				d.Dropped++
				continue
			}
			cost = EstimateTokens(renderSection(s))
		}
		d.Sections = append(d.Sections, s)
		used += cost
	}
	for _, s := range should {
		cost := EstimateTokens(renderSection(s))
		if used+cost > o.Budget {
			d.Dropped++
			continue
		}
		d.Sections = append(d.Sections, s)
		used += cost
	}
	d.Tokens = EstimateTokens(d.Text())
	return d
}

func fitLines(lines []string, budget int) []string {
	var out []string
	used := 0
	for _, l := range lines {
		c := EstimateTokens(l) + 1
		if used+c > budget {
			break
		}
		out = append(out, l)
		used += c
	}
	return out
}

func rng(id string, a, b int) string {
	if a == b {
		return fmt.Sprintf("%s#L%d", id, a+1)
	}
	return fmt.Sprintf("%s#L%d-L%d", id, a+1, b+1)
}

// stackTrace finds the first trace: a head line and the indented or
// frame-looking lines after it.
func stackTrace(lines []string) (int, int) {
	for i, l := range lines {
		if !traceHead.MatchString(l) {
			continue
		}
		end := i
		for j := i + 1; j < len(lines) && j < i+80; j++ {
			if traceBody.MatchString(lines[j]) || traceHead.MatchString(lines[j]) || strings.TrimSpace(lines[j]) == "" {
				end = j
				continue
			}
			break
		}
		if end > i {
			return i, end
		}
	}
	return -1, -1
}

func renderSection(s Section) string {
	return "### " + s.Title + " (" + s.Evidence + ")\n" + strings.Join(s.Lines, "\n") + "\n"
}

// Text renders the digest for the prompt.
func (d Digest) Text() string {
	var b strings.Builder
	for _, s := range d.Sections {
		b.WriteString(renderSection(s))
	}
	return b.String()
}

type tpl struct {
	template, example string
	count             int
	first, last       int
}

var variable = regexp.MustCompile(`^(?:[+-]?\d+(?:[.,:]\d+)*[a-zA-Zµ%]*|0x[0-9a-fA-F]+|[0-9a-fA-F]{8,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?|[a-z]+=[^ ]*\d[^ ]*)$`)

var (
	pemBegin = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)
	pemEnd   = regexp.MustCompile(`-----END [A-Z ]*PRIVATE KEY-----`)
)

var numericRun = regexp.MustCompile(`[0-9a-fA-F]*[0-9][0-9a-fA-F]*`)

// templates collapses lines that differ only in variable tokens (numbers,
// ids, addresses, key=value with digits) — the core of Drain — and returns
// them rarest first, then by first appearance.
func templates(lines []string) []tpl {
	idx := map[string]int{}
	var out []tpl
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		f := strings.Fields(l)
		for j, tok := range f {
			switch {
			case variable.MatchString(tok):
				if k, _, ok := strings.Cut(tok, "="); ok && !strings.ContainsAny(k, "0123456789") {
					f[j] = k + "=<*>"
				} else {
					f[j] = "<*>"
				}
			case strings.ContainsAny(tok, "0123456789"):
				f[j] = numericRun.ReplaceAllString(tok, "<*>") // /orders/42 → /orders/<*>
			}
		}
		key := strings.Join(f, " ")
		if k, ok := idx[key]; ok {
			out[k].count++
			out[k].last = i
			continue
		}
		idx[key] = len(out)
		out = append(out, tpl{template: key, example: l, count: 1, first: i, last: i})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].count < out[j].count })
	return out
}
