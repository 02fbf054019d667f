package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Template renders l as YAML with each field's documentation as a comment
// above it: what `lab init` writes and what the repo-root lab.yaml is.
func Template(l *Lab) ([]byte, error) {
	js, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	var node yaml.Node
	if err := yaml.Unmarshal(js, &node); err != nil {
		return nil, err
	}
	root := node.Content[0]
	root.HeadComment = "lab.yaml: one lab, versioned. Every field is optional except apiVersion and kind;\n" +
		"what is left out takes the default shown here. `lab schema` prints the JSON Schema,\n" +
		"`lab config view` the effective configuration."
	comment(root, reflect.TypeOf(Lab{}))
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&node); err != nil {
		return nil, fmt.Errorf("rendering template: %w", err)
	}
	return buf.Bytes(), nil
}

// comment attaches doc tags as head comments and turns JSON's flow style into
// block style.
func comment(n *yaml.Node, t reflect.Type) {
	n.Style = 0
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.MappingNode:
		if t.Kind() != reflect.Struct || t == durationType {
			for _, c := range n.Content {
				c.Style = 0
			}
			return
		}
		fields := fieldsOf(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			k.Style = 0
			if f, ok := fields[k.Value]; ok {
				k.HeadComment = wrap(f.Tag.Get("doc"))
				comment(v, f.Type)
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			comment(c, t.Elem())
		}
	case yaml.ScalarNode:
		if n.Tag == "!!str" && !strings.ContainsAny(n.Value, ":#{}[]&*!|>'\"%@`") && n.Value != "" && n.Value != "auto" {
			n.Style = 0
		}
	}
}

func wrap(s string) string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		if len(line)+len(w) > 90 && line != "" {
			out = append(out, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
