package digest

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"lab.dev/lab/agent/redact"
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
	Dropped   int       `json:"dropped"`   // lines or templates left out for the budget
}

// Options tune the digest.
type Options struct {
	Budget    int // tokens for the whole digest (default 900)
	LastLines int // kept before the end of each log (default 8)
	MaxLine   int // characters per line (default 240)
	// Shown are line ids (log:app:previous#L12) the prompt quotes elsewhere
	// (the findings): the digest does not repeat them.
	Shown map[string]bool
}

// EstimateTokens approximates a tokenizer: about 4 characters per token for
// English and log text (what Llama and Phi tokenizers average).
func EstimateTokens(s string) int { return (len(s) + 3) / 4 }

// Priorities of a line in the digest, most important first.
const (
	prioFirstError = iota
	prioTrace
	prioLast
	prioRareError // a line that occurs once and reads as an error
	prioRepeated  // a template of lines that really repeat
	prioRare      // any other line that occurs once
)

// candidate is a line or a template competing for the budget.
type candidate struct {
	prio, src, line int    // line: index in its source (first line for a template)
	tpl             int    // template index, for prioRepeated
	text            string // what is rendered
}

type source struct {
	id    string
	lines []string
	tpl   []int32
	tpls  []tpl
}

type tpl struct {
	template    string
	count       int
	first, last int
}

// Build digests the sources: every line is cleaned and redacted first, so no
// secret reaches any part; then each log line appears at most once — the
// first error, the first stack trace and the last lines whole, lines that
// occur once (errors first), and lines that really repeat as one template
// with a count — fitted to the budget by priority and rendered in log order.
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
	var parsed []*source
	var cands []candidate
	for _, src := range srcs {
		if src.Text == "" {
			continue
		}
		s := parse(src, o.MaxLine, &d)
		si := len(parsed)
		parsed = append(parsed, s)
		d.Lines += len(s.lines)
		d.Templates += len(s.tpls)
		picked := make([]bool, len(s.lines))
		add := func(prio, i int) {
			if i < 0 || i >= len(s.lines) || picked[i] || strings.TrimSpace(s.lines[i]) == "" {
				return
			}
			picked[i] = true
			if o.Shown[fmt.Sprintf("%s#L%d", s.id, i+1)] {
				return // quoted by a finding already
			}
			cands = append(cands, candidate{prio: prio, src: si, line: i, text: s.lines[i]})
		}
		first := -1
		for i, l := range s.lines {
			if isError(l) {
				first = i
				break
			}
		}
		add(prioFirstError, first)
		if a, b := stackTrace(s.lines); a >= 0 {
			for i := a; i <= b; i++ {
				add(prioTrace, i)
			}
		}
		for i := max(0, len(s.lines)-o.LastLines); i < len(s.lines); i++ {
			add(prioLast, i)
		}
		for i, l := range s.lines {
			if s.tpls[s.tpl[i]].count == 1 && isError(l) {
				add(prioRareError, i)
			}
		}
		for ti, t := range s.tpls {
			if t.count > 1 {
				cands = append(cands, candidate{prio: prioRepeated, src: si, line: t.first, tpl: ti,
					text: fmt.Sprintf("[x%d more] %s (L%d-L%d)", t.count, t.template, t.first+1, t.last+1)})
			}
		}
		for i := range s.lines {
			if s.tpls[s.tpl[i]].count == 1 {
				add(prioRare, i)
			}
		}
	}
	// Fit by priority (stable: log order within a priority; rarer templates first).
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].prio != cands[j].prio {
			return cands[i].prio < cands[j].prio
		}
		if cands[i].prio == prioRepeated {
			return parsed[cands[i].src].tpls[cands[i].tpl].count < parsed[cands[j].src].tpls[cands[j].tpl].count
		}
		return false
	})
	used := 0
	var kept []candidate
	for _, c := range cands {
		cost := EstimateTokens(c.text) + 4 // the line and its share of a heading
		if used+cost > o.Budget {
			d.Dropped++
			continue
		}
		kept = append(kept, c)
		used += cost
	}
	d.Sections = render(parsed, kept)
	for d.Tokens = EstimateTokens(d.Text()); d.Tokens > o.Budget && len(kept) > 0; d.Tokens = EstimateTokens(d.Text()) {
		kept = kept[:len(kept)-1] // headings cost more than estimated: give back the least important
		d.Dropped++
		d.Sections = render(parsed, kept)
	}
	return d
}

// render groups kept lines into runs of consecutive lines (one heading each,
// in log order) and the templates of each source into one section.
func render(parsed []*source, kept []candidate) []Section {
	sorted := append([]candidate(nil), kept...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.src != b.src {
			return a.src < b.src
		}
		if (a.prio == prioRepeated) != (b.prio == prioRepeated) {
			return b.prio == prioRepeated
		}
		return a.line < b.line
	})
	type key struct{ src, tpl int }
	verbatim := map[key]int{} // lines of a template the digest shows as they are
	for _, c := range kept {
		if c.prio != prioRepeated {
			verbatim[key{c.src, int(parsed[c.src].tpl[c.line])}]++
		}
	}
	var out []Section
	for i := 0; i < len(sorted); {
		c := sorted[i]
		s := parsed[c.src]
		if c.prio == prioRepeated {
			sec := Section{Title: "repeated lines", Evidence: s.id}
			for ; i < len(sorted) && sorted[i].src == c.src; i++ {
				t := s.tpls[sorted[i].tpl]
				n := t.count - verbatim[key{c.src, sorted[i].tpl}]
				if n <= 0 {
					continue
				}
				more := ""
				if n < t.count {
					more = " more"
				}
				sec.Lines = append(sec.Lines, fmt.Sprintf("[x%d%s] %s (L%d-L%d)", n, more, t.template, t.first+1, t.last+1))
			}
			if len(sec.Lines) > 0 {
				out = append(out, sec)
			}
			continue
		}
		j := i + 1
		for j < len(sorted) && sorted[j].src == c.src && sorted[j].prio != prioRepeated && sorted[j].line == sorted[j-1].line+1 {
			j++
		}
		sec := Section{Title: "lines", Evidence: rng(s.id, c.line, sorted[j-1].line)}
		for k := i; k < j; k++ {
			sec.Lines = append(sec.Lines, sorted[k].text)
		}
		out = append(out, sec)
		i = j
	}
	return out
}

// parse cleans, redacts and templates every line of one source.
func parse(src Source, maxLine int, d *Digest) *source {
	s := &source{id: src.ID}
	idx := map[string]int32{}
	var key []byte
	var lower []byte
	inKey := false // inside a PEM private key block: every line is secret
	text := strings.TrimRight(src.Text, "\n")
	for n := 0; ; n++ {
		raw, rest, more := strings.Cut(text, "\n")
		l := Clean(raw)
		var r int
		switch {
		case strings.Contains(l, "PRIVATE KEY-----") && pemBegin.MatchString(l):
			inKey = !pemEnd.MatchString(l)
			l, r = "[REDACTED:private-key]", 1
		case inKey:
			inKey = !pemEnd.MatchString(l)
			l, r = "[REDACTED:private-key]", 1
		default:
			l, r, lower = redact.Line(l, lower)
		}
		d.Redacted += r
		if len(l) > maxLine {
			cut := maxLine
			for cut > 0 && !utf8.RuneStart(l[cut]) {
				cut--
			}
			l = l[:cut] + "…"
		}
		key = templateKey(key[:0], l)
		t, ok := idx[string(key)]
		if !ok {
			t = int32(len(s.tpls))
			k := string(key)
			idx[k] = t
			s.tpls = append(s.tpls, tpl{template: k, first: n})
		}
		s.tpls[t].count++
		s.tpls[t].last = n
		s.lines = append(s.lines, l)
		s.tpl = append(s.tpl, t)
		if !more {
			break
		}
		text = rest
	}
	return s
}

func rng(id string, a, b int) string {
	if a == b {
		return fmt.Sprintf("%s#L%d", id, a+1)
	}
	return fmt.Sprintf("%s#L%d-L%d", id, a+1, b+1)
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
