// Package runbook retrieves the sections of the team's Markdown runbooks
// that fit a diagnosis: BM25 over headings and text always, fused with
// embedding similarity (Ollama /api/embed) when a model is up. A runbook
// section is data the report cites (file and heading) and the prompt quotes.
//
// BM25 is written here rather than taken from a search library: the one
// full-text library the module proxy serves (bleve) brings an index format,
// analyzers and some thirty modules for what is a few dozen sections ranked
// by a twenty-line formula.
package runbook

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode"
)

// Section is one heading of a runbook and the text under it.
type Section struct {
	File    string `json:"file"`    // relative to its folder, e.g. probes.md
	Source  string `json:"source"`  // the folder or "embedded"
	Title   string `json:"title"`   // the file's first-level heading
	Heading string `json:"heading"` // the section's heading
	Text    string `json:"text"`
}

// Ref is file#heading, the id a report cites.
func (s Section) Ref() string { return s.File + "#" + s.Heading }

// Hit is a retrieved section.
type Hit struct {
	Section
	Score    float64 `json:"score"`                  // fused score (higher is better)
	Lexical  int     `json:"lexicalRank"`            // 1-based BM25 rank, 0 = not ranked
	Semantic int     `json:"semanticRank,omitempty"` // 1-based embedding rank, 0 = not used
}

// Index holds the sections and their BM25 statistics.
type Index struct {
	Sections []Section
	docs     []map[string]int // term frequencies
	lens     []int
	df       map[string]int
	avg      float64
	mu       sync.Mutex  // guards vecs: concurrent diagnoses share an index
	vecs     [][]float32 // embeddings of the sections, when computed
}

// Load reads every *.md file under each folder (and fsys, when not nil, as
// "embedded") and splits them into sections at "##" and "###" headings.
func Load(fsys fs.FS, dirs ...string) (*Index, error) {
	var secs []Section
	if fsys != nil {
		s, err := loadFS(fsys, "embedded")
		if err != nil {
			return nil, err
		}
		secs = append(secs, s...)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); os.IsNotExist(err) {
			continue
		}
		s, err := loadFS(os.DirFS(d), d)
		if err != nil {
			return nil, fmt.Errorf("runbooks in %s: %w", d, err)
		}
		secs = append(secs, s...)
	}
	return New(secs), nil
}

func loadFS(fsys fs.FS, source string) ([]Section, error) {
	var out []Section
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".md") {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		out = append(out, Split(filepath.ToSlash(p), source, string(b))...)
		return nil
	})
	return out, err
}

// Split cuts one Markdown file into sections at its "##"/"###" headings;
// text before the first one belongs to a section named by the title.
func Split(file, source, md string) []Section {
	var out []Section
	title := strings.TrimSuffix(path.Base(file), ".md")
	cur := Section{File: file, Source: source, Title: title, Heading: title}
	var text []string
	inCode := false
	flush := func() {
		cur.Text = strings.TrimSpace(strings.Join(text, "\n"))
		if cur.Text != "" {
			out = append(out, cur)
		}
		text = nil
	}
	for _, line := range strings.Split(md, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			inCode = !inCode
		}
		switch {
		case !inCode && strings.HasPrefix(t, "# ") && len(out) == 0 && len(text) == 0:
			title = strings.TrimSpace(t[2:])
			cur.Title, cur.Heading = title, title
		case !inCode && (strings.HasPrefix(t, "## ") || strings.HasPrefix(t, "### ")):
			flush()
			cur = Section{File: file, Source: source, Title: title, Heading: strings.TrimSpace(strings.TrimLeft(t, "#"))}
		default:
			text = append(text, line)
		}
	}
	flush()
	return out
}

// New indexes sections.
func New(secs []Section) *Index {
	ix := &Index{Sections: secs, df: map[string]int{}}
	total := 0
	for _, s := range secs {
		// the heading counts twice and the title once: they say what the section is for
		terms := Terms(s.Heading + " " + s.Heading + " " + s.Title + " " + s.Text)
		tf := map[string]int{}
		for _, t := range terms {
			tf[t]++
		}
		for t := range tf {
			ix.df[t]++
		}
		ix.docs = append(ix.docs, tf)
		ix.lens = append(ix.lens, len(terms))
		total += len(terms)
	}
	if len(secs) > 0 {
		ix.avg = float64(total) / float64(len(secs))
	}
	return ix
}

// BM25 parameters: the usual values.
const (
	k1 = 1.2
	b  = 0.75
)

// bm25 scores every section for query.
func (ix *Index) bm25(query string) []float64 {
	q := map[string]bool{}
	for _, t := range Terms(query) {
		q[t] = true
	}
	n := float64(len(ix.Sections))
	scores := make([]float64, len(ix.docs))
	for i, tf := range ix.docs {
		for t := range q {
			f := float64(tf[t])
			if f == 0 {
				continue
			}
			df := float64(ix.df[t])
			idf := math.Log(1 + (n-df+0.5)/(df+0.5))
			scores[i] += idf * f * (k1 + 1) / (f + k1*(1-b+b*float64(ix.lens[i])/ix.avg))
		}
	}
	return scores
}

// ranked orders the sections' indices by score, best first (section order
// breaks ties); positive keeps only scores above zero.
func ranked(scores []float64, positive bool) []int {
	var idx []int
	for i, s := range scores {
		if !positive || s > 0 {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	return idx
}

// Search ranks the sections for query by BM25 and returns the best k.
func (ix *Index) Search(query string, k int) []Hit {
	scores := ix.bm25(query)
	var hits []Hit
	for r, i := range ranked(scores, true) {
		hits = append(hits, Hit{Section: ix.Sections[i], Score: scores[i], Lexical: r + 1})
	}
	return cut(hits, k)
}

// EmbedFunc turns texts into vectors (Ollama's /api/embed).
type EmbedFunc func(ctx context.Context, texts []string) ([][]float32, error)

// Embed computes the sections' vectors once.
func (ix *Index) Embed(ctx context.Context, embed EmbedFunc) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.vecs != nil || len(ix.Sections) == 0 {
		return nil
	}
	texts := make([]string, len(ix.Sections))
	for i, s := range ix.Sections {
		texts[i] = s.Title + ": " + s.Heading + "\n" + s.Text
	}
	vecs, err := embed(ctx, texts)
	if err != nil {
		return err
	}
	if len(vecs) != len(texts) {
		return fmt.Errorf("embeddings: %d vectors for %d sections", len(vecs), len(texts))
	}
	ix.vecs = vecs
	return nil
}

// Hybrid blends BM25 with embedding similarity: each section scores
// 0.7 × its BM25 score relative to the best one + 0.3 × its cosine
// similarity to the query. Lexical evidence leads; the embeddings reorder
// close calls and can bring in a section that shares no word with the query.
// A weak or random embedding model (cosines near zero) barely moves the
// lexical order, where rank fusion would let its noise decide. Without
// embeddings it is Search.
func (ix *Index) Hybrid(ctx context.Context, query string, k int, embed EmbedFunc) ([]Hit, error) {
	if embed == nil {
		return ix.Search(query, k), nil
	}
	if err := ix.Embed(ctx, embed); err != nil {
		return ix.Search(query, k), err
	}
	qv, err := embed(ctx, []string{query})
	if err != nil || len(qv) != 1 {
		return ix.Search(query, k), err
	}
	lex := ix.bm25(query)
	sims := make([]float64, len(ix.Sections))
	best := 0.0
	for i := range ix.Sections {
		sims[i] = cosine(qv[0], ix.vecs[i])
		best = math.Max(best, lex[i])
	}
	lexRank, semRank := make([]int, len(lex)), make([]int, len(sims))
	for r, i := range ranked(lex, true) {
		lexRank[i] = r + 1
	}
	for r, i := range ranked(sims, false) {
		semRank[i] = r + 1
	}
	fused := make([]float64, len(lex))
	for i := range fused {
		if best > 0 {
			fused[i] = 0.7 * lex[i] / best
		}
		fused[i] += 0.3 * math.Max(0, sims[i])
	}
	var out []Hit
	for _, i := range ranked(fused, false) {
		out = append(out, Hit{Section: ix.Sections[i], Score: fused[i], Lexical: lexRank[i], Semantic: semRank[i]})
	}
	return cut(out, k), nil
}

func cut(h []Hit, k int) []Hit {
	if len(h) > k {
		return h[:k]
	}
	return h
}

func cosine(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

var stop = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or of to in on for is are was be it its it's this that with as at by from not no
		but if then than so do does did has have had can will would should may might must its their there these those
		which what when where who how all any each one two more most other some such only own same too very just
		into out up down over under again further once here why about against between through during before after
		above below off while until your you we our they them he she his her i me my
		container pod pods`) {
		stop[w] = true
	}
}

// Terms tokenizes text for the index: lower-case words and numbers, stop
// words out, a CamelCase word kept whole and as its parts (CrashLoopBackOff
// → crashloopbackoff, crash, loop, back, off), plural and -ing/-ed endings
// trimmed.
func Terms(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		parts := camel(w)
		if len(parts) > 1 {
			out = appendTerm(out, strings.ToLower(w))
		}
		for _, p := range parts {
			out = appendTerm(out, strings.ToLower(p))
		}
	}
	return out
}

func appendTerm(out []string, t string) []string {
	if len(t) < 2 || stop[t] {
		return out
	}
	return append(out, stem(t))
}

func stem(t string) string {
	switch {
	case len(t) > 5 && strings.HasSuffix(t, "ing"):
		return t[:len(t)-3]
	case len(t) > 4 && strings.HasSuffix(t, "ed"):
		return t[:len(t)-2]
	case len(t) > 3 && strings.HasSuffix(t, "s") && !strings.HasSuffix(t, "ss"):
		return t[:len(t)-1]
	}
	return t
}

// camel splits "CrashLoopBackOff" into Crash, Loop, Back, Off; a word
// without inner capitals is itself.
func camel(w string) []string {
	var parts []string
	start := 0
	rs := []rune(w)
	for i := 1; i < len(rs); i++ {
		if unicode.IsUpper(rs[i]) && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
			parts = append(parts, string(rs[start:i]))
			start = i
		}
	}
	return append(parts, string(rs[start:]))
}
