package ui

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	for _, c := range []struct {
		in      string
		allowed []Format
		want    Format
		err     string
	}{
		{"json", []Format{Text, JSON}, JSON, ""},
		{"JSON", []Format{Text, JSON}, JSON, ""},
		{"md", []Format{Text, Markdown}, Markdown, ""},
		{"yml", []Format{YAML}, YAML, ""},
		{"xml", []Format{Text, Markdown, JSON}, "", `want text, markdown or json, got "xml"`},
		{"yaml", []Format{Text, JSON}, "", `want text or json`},
		{"", []Format{"", YAML}, "", ""},
	} {
		got, err := ParseFormat(c.in, c.allowed...)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseFormat(%q, %v) = %q, %v; want %q, %q", c.in, c.allowed, got, err, c.want, c.err)
		}
	}
}

func TestEncode(t *testing.T) {
	v := map[string]any{"a": 1, "b": []string{"x"}}
	var j, y bytes.Buffer
	if err := Encode(&j, JSON, v); err != nil || j.String() != "{\n  \"a\": 1,\n  \"b\": [\n    \"x\"\n  ]\n}\n" {
		t.Errorf("json %q %v", j.String(), err)
	}
	if err := Encode(&y, YAML, v); err != nil || y.String() != "a: 1\nb:\n- x\n" {
		t.Errorf("yaml %q %v", y.String(), err)
	}
	if err := Encode(&y, Text, v); err == nil {
		t.Error("text is not a data format")
	}
}
