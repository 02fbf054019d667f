package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// FieldError is one problem in a lab.yaml, located by line and field path.
type FieldError struct {
	File string
	Line int    // 0 when the field is absent from the file
	Path string // cluster.workers
	Msg  string
}

func (e FieldError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Path == "" {
		return loc + ": " + e.Msg
	}
	return loc + ": " + e.Path + ": " + e.Msg
}

// ErrInvalid is wrapped by every error Load returns for a bad file.
var ErrInvalid = errors.New("invalid lab configuration")

// Errors is every problem found in one file, in line order.
type Errors []FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is(err, ErrInvalid) work.
func (es Errors) Unwrap() error { return ErrInvalid }

// Load decodes a lab.yaml strictly: unknown fields, wrong types and invalid
// values are all reported at once (as Errors), each with file:line and field
// path. On success the returned Lab has its defaults applied.
func Load(name string, data []byte) (*Lab, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return nil, Errors{{File: name, Msg: "file is empty; run `lab init` to write a default lab.yaml"}}
		}
		return nil, Errors{{File: name, Line: yamlErrLine(err), Msg: "not valid YAML: " + yamlErrMsg(err)}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: name, Line: extra.Line, Msg: "more than one YAML document; lab.yaml holds exactly one Lab"}}
	}
	w := &walker{file: name, lines: map[string]int{}, given: map[string]bool{}}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	// The walker drops every field it reports, so the rest still decodes and
	// is validated: the user sees all problems in one go.
	w.walk(root, reflect.TypeOf(Lab{}), "")
	structural := map[string]bool{}
	for _, e := range w.errs {
		structural[e.Path] = true
	}
	var generic any
	if err := root.Decode(&generic); err != nil {
		return nil, Errors{{File: name, Line: yamlErrLine(err), Msg: yamlErrMsg(err)}}
	}
	js, err := json.Marshal(generic)
	if err != nil {
		return nil, Errors{{File: name, Msg: err.Error()}}
	}
	l := &Lab{}
	if err := json.Unmarshal(js, l); err != nil {
		return nil, Errors{{File: name, Msg: err.Error()}}
	}
	setDefaults(l, defaulter{given: func(p string) bool { return w.given[p] }})
	for _, e := range Validate(l) {
		if structural[e.Path] {
			continue
		}
		e.File = name
		e.Line = w.lineOf(e.Path)
		w.errs = append(w.errs, e)
	}
	if len(w.errs) > 0 {
		return nil, w.sorted()
	}
	return l, nil
}

// walker checks a YAML node tree against a Go type, recording the line of every
// field path it sees.
type walker struct {
	file  string
	lines map[string]int
	given map[string]bool // paths set to a non-null value
	errs  Errors
}

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) bool {
	w.errs = append(w.errs, FieldError{File: w.file, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
	return false
}

func (w *walker) sorted() Errors {
	sort.SliceStable(w.errs, func(i, j int) bool { return w.errs[i].Line < w.errs[j].Line })
	return w.errs
}

// lineOf finds the line of path, or of its nearest ancestor present in the file.
func (w *walker) lineOf(path string) int {
	for p := path; p != ""; {
		if l, ok := w.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

var durationType = reflect.TypeOf(Duration{})

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walk reports whether n fits t; a misfit has been reported and must be dropped.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" {
		w.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return true // an empty value leaves the default
	}
	if path != "" {
		w.given[path] = true
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return w.scalar(n, path, "a duration like \"30s\"", func(s string) error {
			_, err := parseDuration(s)
			return err
		})
	case t.Kind() == reflect.Struct:
		return w.object(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return w.fail(n, path, "must be a list, got %s", describe(n))
		}
		kept := n.Content[:0:0]
		for i, item := range n.Content {
			if w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)) {
				kept = append(kept, item)
			}
		}
		n.Content = kept
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return w.fail(n, path, "must be a mapping, got %s", describe(n))
		}
	case t.Kind() == reflect.String:
		return w.scalar(n, path, "a string", func(string) error {
			if n.Tag != "!!str" {
				return fmt.Errorf("quote it to use it as a string")
			}
			return nil
		})
	case t.Kind() == reflect.Bool:
		return w.scalar(n, path, "true or false", tagIs(n, "!!bool"))
	case t.Kind() == reflect.Int:
		return w.scalar(n, path, "an integer", func(s string) error {
			if n.Tag != "!!int" {
				return errors.New("")
			}
			if _, err := strconv.ParseInt(s, 0, 32); err != nil {
				return errors.New("out of range")
			}
			return nil
		})
	case t.Kind() == reflect.Float64:
		return w.scalar(n, path, "a number", func(s string) error {
			if n.Tag != "!!int" && n.Tag != "!!float" {
				return errors.New("")
			}
			return nil
		})
	}
	return true
}

func tagIs(n *yaml.Node, tag string) func(string) error {
	return func(string) error {
		if n.Tag != tag {
			return errors.New("")
		}
		return nil
	}
}

func (w *walker) scalar(n *yaml.Node, path, want string, check func(string) error) bool {
	if n.Kind != yaml.ScalarNode {
		return w.fail(n, path, "must be %s, got %s", want, describe(n))
	}
	if err := check(n.Value); err != nil {
		msg := fmt.Sprintf("must be %s, got %s", want, describe(n))
		if err.Error() != "" {
			msg += " (" + err.Error() + ")"
		}
		return w.fail(n, path, "%s", msg)
	}
	return true
}

func (w *walker) object(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.MappingNode {
		return w.fail(n, path, "must be a mapping, got %s", describe(n))
	}
	fields := fieldsOf(t)
	seen := map[string]bool{}
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			w.fail(k, p, "keys must be plain strings")
			continue
		}
		if seen[k.Value] {
			w.fail(k, p, "set twice")
			continue
		}
		seen[k.Value] = true
		f, ok := fields[k.Value]
		if !ok {
			w.fail(k, p, "unknown field%s", suggest(k.Value, fields))
			continue
		}
		ok = w.walk(v, f.Type, p)
		w.lines[p] = k.Line
		if ok {
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
	return true
}

// fieldsOf maps JSON names to struct fields, flattening inline embeds.
func fieldsOf(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && strings.Contains(opts, "inline") {
			for k, v := range fieldsOf(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		out[name] = f
	}
	return out
}

func suggest(key string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
		if d := distance(strings.ToLower(key), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sort.Strings(names)
	return " (known: " + strings.Join(names, ", ") + ")"
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	kind := map[string]string{"!!str": "string", "!!int": "integer", "!!float": "number", "!!bool": "boolean"}[n.Tag]
	if kind == "" {
		kind = n.Tag
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	return fmt.Sprintf("%s %q", kind, v)
}

func yamlErrLine(err error) int {
	var line int
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		fmt.Sscanf(s[i:], "line %d", &line)
	}
	return line
}

func yamlErrMsg(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(s, "line "); i >= 0 {
		if j := strings.Index(s[i:], ": "); j >= 0 {
			return s[:i] + s[i+j+2:]
		}
	}
	return s
}
