package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// Format is what -o asks for. Every command parses it here (helm's
// pkg/cli/output way), so an unknown format is the same error everywhere,
// named at flag-parse time, before any work starts.
type Format string

// The formats lab's commands print.
const (
	Text     Format = "text"
	JSON     Format = "json"
	YAML     Format = "yaml"
	Markdown Format = "markdown"
)

var aliases = map[string]Format{"md": Markdown, "yml": YAML}

// FormatValue is an -o flag value (a pflag.Value) that accepts only the
// formats its command prints.
type FormatValue struct {
	p       *Format
	allowed []Format
}

// NewFormatValue sets *p to def and returns the flag value accepting allowed.
func NewFormatValue(p *Format, def Format, allowed ...Format) *FormatValue {
	*p = def
	return &FormatValue{p: p, allowed: allowed}
}

// ParseFormat checks s against allowed (aliases: md, yml; the empty string
// is "" only when "" is allowed: "no output" for commands that act).
func ParseFormat(s string, allowed ...Format) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if a, ok := aliases[string(f)]; ok {
		f = a
	}
	for _, a := range allowed {
		if f == a {
			return f, nil
		}
	}
	return "", fmt.Errorf("want %s, got %q", Wanted(allowed), s)
}

// Wanted lists formats as "text, markdown or json".
func Wanted(fs []Format) string {
	var names []string
	for _, f := range fs {
		if f != "" {
			names = append(names, string(f))
		}
	}
	switch len(names) {
	case 0:
		return "nothing"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Set implements pflag.Value.
func (v *FormatValue) Set(s string) error {
	f, err := ParseFormat(s, v.allowed...)
	if err != nil {
		return err
	}
	*v.p = f
	return nil
}

func (v *FormatValue) String() string { return string(*v.p) }

// Type implements pflag.Value.
func (v *FormatValue) Type() string { return "format" }

// Usage is the flag's help text: the formats accepted.
func (v *FormatValue) Usage(extra string) string {
	u := Wanted(v.allowed)
	if extra != "" {
		u += ": " + extra
	}
	return u
}

// Encode writes v as indented JSON or as YAML (through its JSON tags, so both
// name fields alike). Text and Markdown are each result's own renderer.
func Encode(w io.Writer, f Format, v any) error {
	switch f {
	case JSON:
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(v)
	case YAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("%s is not a data format", f)
}
